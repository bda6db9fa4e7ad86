/// Groups parsed lines into metric families and checks their consistency. Internal to the parser.
struct FamilyAssembler {
    private struct Builder {
        var family: MetricFamily
        var typeDeclared = false
    }

    private var builders: [Builder] = []
    private var indexByName: [String: Int] = [:]
    /// The family of the latest HELP, TYPE or sample line; preferred when attributing samples.
    private var current: Int?

    var families: [MetricFamily] { builders.map(\.family) }

    mutating func help(name: String, text: String, line: Int) throws(ExpositionError) {
        let index = builderIndex(named: name)
        guard builders[index].family.help == nil else {
            throw ExpositionError(line: line, reason: "second HELP line for \(name)")
        }
        builders[index].family.help = text
        current = index
    }

    mutating func type(name: String, type: MetricType, line: Int) throws(ExpositionError) {
        let index = builderIndex(named: name)
        guard !builders[index].typeDeclared else {
            throw ExpositionError(line: line, reason: "second TYPE line for \(name)")
        }
        guard builders[index].family.samples.isEmpty else {
            throw ExpositionError(line: line, reason: "TYPE line for \(name) after its samples")
        }
        builders[index].family.type = type
        builders[index].typeDeclared = true
        current = index
    }

    mutating func sample(_ sample: Sample, line: Int) throws(ExpositionError) {
        let index = owner(of: sample.name) ?? builderIndex(named: sample.name)
        try Self.validate(sample, in: builders[index].family, line: line)
        builders[index].family.samples.append(sample)
        current = index
    }

    /// The family a sample name belongs to: the current family if it accepts the name,
    /// otherwise the family of that exact name, otherwise a histogram/summary family whose
    /// name is the sample name minus a member suffix.
    private func owner(of sampleName: String) -> Int? {
        if let current, Self.accepts(builders[current].family, sampleName) { return current }
        if let index = indexByName[sampleName] { return index }
        for suffix in MetricType.histogram.memberSuffixes where sampleName.hasSuffix(suffix) {
            let base = String(sampleName.dropLast(suffix.count))
            if let index = indexByName[base], Self.accepts(builders[index].family, sampleName) { return index }
        }
        return nil
    }

    private static func accepts(_ family: MetricFamily, _ sampleName: String) -> Bool {
        sampleName == family.name || family.type.memberSuffixes.contains { family.name + $0 == sampleName }
    }

    /// The index of the family called `name`, creating an untyped one if needed.
    private mutating func builderIndex(named name: String) -> Int {
        if let index = indexByName[name] { return index }
        builders.append(Builder(family: MetricFamily(name: name, type: .untyped)))
        indexByName[name] = builders.count - 1
        return builders.count - 1
    }

    /// Histogram and summary samples must carry the labels that give them meaning.
    private static func validate(_ sample: Sample, in family: MetricFamily, line: Int) throws(ExpositionError) {
        func fail(_ reason: String) -> ExpositionError { ExpositionError(line: line, reason: reason) }
        switch family.type {
        case .histogram:
            guard sample.name != family.name else {
                throw fail(
                    "sample \(sample.name) of histogram \(family.name) must end in _bucket, _sum, _count or _created"
                )
            }
            if sample.name == family.name + "_bucket" {
                guard let le = sample.label("le") else { throw fail("histogram bucket \(sample.name) has no le label") }
                guard Double(le) != nil else { throw fail("invalid le value \"\(le)\" in \(sample.name)") }
            }
        case .summary:
            if sample.name == family.name {
                guard let quantile = sample.label("quantile") else {
                    throw fail("summary sample \(sample.name) has no quantile label")
                }
                guard Double(quantile) != nil else {
                    throw fail("invalid quantile value \"\(quantile)\" in \(sample.name)")
                }
            }
        case .counter, .gauge, .untyped:
            break
        }
    }
}
