/// Merges the parsed expositions of several child services, plus the supervisor's own
/// families, into one text exposition (format 0.0.4).
///
/// Rules and guarantees:
/// - Every child sample gets `service="<child>"` as its first label. A child's own non-empty
///   `service` label is kept in place but renamed `exported_service` (Prometheus'
///   `honor_labels: false` convention, including `exported_exported_service` when that name
///   is taken too); an empty one is dropped, since empty means absent in Prometheus.
/// - A source whose families are `nil` (the child did not answer) contributes nothing.
/// - Exactly one `# TYPE` line per family name and at most one `# HELP` line; all samples of
///   a family are contiguous. Families are ordered by first accepted appearance across the
///   sources in the given order, then by the `own` families not seen before. Within a
///   family, samples follow source order, then each source's sample order.
/// - HELP text: the `own` family's if it has one, otherwise the first child's that has one.
/// - Type conflicts: the first type declared for a name wins, except that an `own` family's
///   type always wins. A child family of another type is dropped entirely and replaced by a
///   comment line `# orderd: dropped <family> from <service>: type <t2> conflicts with <t1>`
///   written just before that family's HELP/TYPE lines. Untyped is a type like any other.
/// - Histogram and summary series stay intact: each series' `_bucket`/quantile, `_sum`,
///   `_count` and `_created` samples are kept together, bucket order preserved, even if a
///   child interleaved its series.
/// - `own` samples are written unchanged (no `service` label, no regrouping); when a child
///   family has the same name and type they share one block, `own` samples last.
/// - Label values and HELP texts are re-escaped; values and timestamps are written verbatim.
///
/// Service names should be unique; duplicated names yield duplicated series. The merger
/// never fails and does not validate names.
public enum ExpositionMerger {
    /// - Parameters:
    ///   - sources: per child service, its parsed families (`nil` = the child did not answer:
    ///     contributes nothing).
    ///   - own: the supervisor's own families (e.g. `orderd_service_up`), appended unchanged.
    public static func merge(_ sources: [(service: String, families: [MetricFamily]?)], own: [MetricFamily]) -> String {
        var blocks = BlockList()
        var ownTypes: [String: MetricType] = [:]
        for family in own where ownTypes[family.name] == nil {
            ownTypes[family.name] = family.type
        }
        for (service, families) in sources {
            for family in families ?? [] {
                let samples = SeriesGrouping.grouped(family).map { sample in
                    var relabeled = sample
                    relabeled.labels = ServiceLabeling.labels(sample.labels, service: service)
                    return relabeled
                }
                blocks.add(family, samples: samples, from: service, establishedType: ownTypes[family.name])
            }
        }
        for family in own {
            blocks.add(family, samples: family.samples, from: "orderd", establishedType: nil, isOwn: true)
        }
        return blocks.rendered()
    }

    /// Same as the other overload, for callers whose sources are all present.
    public static func merge(_ sources: [(service: String, families: [MetricFamily])], own: [MetricFamily]) -> String {
        merge(sources.map { (service: $0.service, families: Optional($0.families)) }, own: own)
    }
}

/// The output families being assembled by ``ExpositionMerger``. Internal.
private struct BlockList {
    struct Block {
        var name: String
        var type: MetricType
        var help: String?
        var helpIsOwn = false
        var notes: [String] = []
        var samples: [Sample] = []
    }

    private var blocks: [Block] = []
    private var indexByName: [String: Int] = [:]
    /// Conflict notes for names that have no block yet (reserved by an `own` family).
    private var pendingNotes: [String: [String]] = [:]

    mutating func add(
        _ family: MetricFamily,
        samples: [Sample],
        from source: String,
        establishedType: MetricType?,
        isOwn: Bool = false
    ) {
        let existing = indexByName[family.name]
        if let winner = establishedType ?? existing.map({ blocks[$0].type }), winner != family.type {
            let note =
                "# orderd: dropped \(family.name) from \(Escaping.help(source)): type \(family.type.rawValue) conflicts with \(winner.rawValue)"
            if let existing {
                blocks[existing].notes.append(note)
            } else {
                pendingNotes[family.name, default: []].append(note)
            }
            return
        }
        let index: Int
        if let existing {
            index = existing
        } else {
            blocks.append(
                Block(name: family.name, type: family.type, notes: pendingNotes.removeValue(forKey: family.name) ?? [])
            )
            index = blocks.count - 1
            indexByName[family.name] = index
        }
        if let help = family.help, blocks[index].help == nil || (isOwn && !blocks[index].helpIsOwn) {
            blocks[index].help = help
            blocks[index].helpIsOwn = isOwn
        }
        blocks[index].samples += samples
    }

    func rendered() -> String {
        var out = ""
        for block in blocks {
            for note in block.notes {
                out += note + "\n"
            }
            ExpositionWriter.appendHeader(name: block.name, help: block.help, type: block.type, to: &out)
            for sample in block.samples {
                ExpositionWriter.appendSample(sample, to: &out)
            }
        }
        return out
    }
}
