import PrometheusExposition
import Testing

private func gauge(_ name: String, _ samples: [Sample], help: String? = nil) -> MetricFamily {
    MetricFamily(name: name, help: help, type: .gauge, samples: samples)
}

@Suite("Merger")
struct MergerTests {
    @Test func addsServiceLabelFirst() {
        let merged = ExpositionMerger.merge(
            [(service: "order", families: [gauge("g", [Sample(name: "g", labels: ["a": "1"], value: "2")])])],
            own: []
        )
        #expect(merged == "# TYPE g gauge\ng{service=\"order\",a=\"1\"} 2\n")
    }

    @Test func renamesExistingServiceLabelInPlace() {
        let sample = Sample(name: "g", labels: ["a": "1", "service": "theirs", "b": "2"], value: "1")
        let merged = ExpositionMerger.merge([("order", [gauge("g", [sample])])], own: [])
        #expect(merged.contains(#"g{service="order",a="1",exported_service="theirs",b="2"} 1"#))
    }

    @Test func repeatsExportedPrefixWhileTaken() {
        let sample = Sample(
            name: "g",
            labels: ["service": "s", "exported_service": "e", "exported_exported_service": "ee"],
            value: "1"
        )
        let merged = ExpositionMerger.merge([("order", [gauge("g", [sample])])], own: [])
        #expect(
            merged.contains(
                #"g{service="order",exported_exported_exported_service="s",exported_service="e",exported_exported_service="ee"} 1"#
            )
        )
    }

    @Test func emptyServiceLabelIsDroppedAndEmptyExportedLabelReplaced() {
        let empty = Sample(name: "g", labels: ["service": "", "a": "1"], value: "1")
        let occupied = Sample(name: "g", labels: ["exported_service": "", "service": "s"], value: "2")
        let merged = ExpositionMerger.merge([("order", [gauge("g", [empty, occupied])])], own: [])
        #expect(
            merged == """
                # TYPE g gauge
                g{service="order",a="1"} 1
                g{service="order",exported_service="s"} 2

                """
        )
    }

    @Test func nilSourcesContributeNothing() {
        let merged = ExpositionMerger.merge(
            [
                (service: "order", families: nil),
                (service: "payment", families: [gauge("g", [Sample(name: "g", value: "1")])]),
            ],
            own: []
        )
        #expect(merged == "# TYPE g gauge\ng{service=\"payment\"} 1\n")
        #expect(ExpositionMerger.merge([(service: "order", families: nil)], own: []) == "")
    }

    @Test func nonOptionalOverloadMatchesOptionalOne() {
        let families = [gauge("g", [Sample(name: "g", value: "1")])]
        let plain: [(service: String, families: [MetricFamily])] = [("a", families), ("b", families)]
        let optional: [(service: String, families: [MetricFamily]?)] = [("a", families), ("b", families)]
        #expect(ExpositionMerger.merge(plain, own: []) == ExpositionMerger.merge(optional, own: []))
    }

    @Test func ownFamiliesAreAppendedUnchanged() {
        let own = [
            MetricFamily(
                name: "orderd_service_up",
                help: "Up.",
                type: .gauge,
                samples: [
                    Sample(name: "orderd_service_up", labels: ["service": "order"], value: "1")
                ]
            )
        ]
        let merged = ExpositionMerger.merge([("order", [gauge("g", [Sample(name: "g", value: "1")])])], own: own)
        #expect(
            merged.hasSuffix(
                "# HELP orderd_service_up Up.\n# TYPE orderd_service_up gauge\norderd_service_up{service=\"order\"} 1\n"
            )
        )
        #expect(ExpositionMerger.merge([], own: own) == ExpositionWriter.write(own))
    }

    @Test func ownTypeWinsEvenIfAChildDeclaredTheNameFirst() {
        let child = MetricFamily(name: "x", type: .counter, samples: [Sample(name: "x", value: "5")])
        let own = [gauge("x", [Sample(name: "x", value: "1")], help: "Own help.")]
        let merged = ExpositionMerger.merge(
            [("order", [child, gauge("y", [Sample(name: "y", value: "2")])])],
            own: own
        )
        #expect(
            merged == """
                # TYPE y gauge
                y{service="order"} 2
                # orderd: dropped x from order: type counter conflicts with gauge
                # HELP x Own help.
                # TYPE x gauge
                x 1

                """
        )
    }

    @Test func childAndOwnFamilyOfSameTypeShareOneBlock() {
        let child = gauge("x", [Sample(name: "x", value: "5")], help: "Child help.")
        let own = [gauge("x", [Sample(name: "x", labels: ["k": "v"], value: "1")], help: "Own help.")]
        let merged = ExpositionMerger.merge([("order", [child]), ("payment", [gauge("z", [])])], own: own)
        #expect(
            merged == """
                # HELP x Own help.
                # TYPE x gauge
                x{service="order"} 5
                x{k="v"} 1
                # TYPE z gauge

                """
        )
    }

    @Test func firstHelpWinsAmongChildren() {
        let merged = ExpositionMerger.merge(
            [
                ("a", [gauge("g", [Sample(name: "g", value: "1")])]),
                ("b", [gauge("g", [Sample(name: "g", value: "2")], help: "From b.")]),
                ("c", [gauge("g", [Sample(name: "g", value: "3")], help: "From c.")]),
            ],
            own: []
        )
        #expect(merged.hasPrefix("# HELP g From b.\n# TYPE g gauge\n"))
        #expect(merged.components(separatedBy: "# HELP").count == 2)
    }

    @Test func interleavedHistogramSeriesAreRegroupedWithBucketOrderKept() throws {
        let text = """
            # TYPE h histogram
            h_bucket{k="a",le="1"} 1
            h_bucket{k="b",le="1"} 0
            h_bucket{le="+Inf",k="a"} 2
            h_bucket{k="b",le="+Inf"} 1
            h_sum{k="b"} 3
            h_sum{k="a"} 4
            h_count{k="a"} 2
            h_count{k="b"} 1
            """
        let merged = ExpositionMerger.merge([("order", try ExpositionParser.parse(text))], own: [])
        #expect(
            merged == """
                # TYPE h histogram
                h_bucket{service="order",k="a",le="1"} 1
                h_bucket{service="order",le="+Inf",k="a"} 2
                h_sum{service="order",k="a"} 4
                h_count{service="order",k="a"} 2
                h_bucket{service="order",k="b",le="1"} 0
                h_bucket{service="order",k="b",le="+Inf"} 1
                h_sum{service="order",k="b"} 3
                h_count{service="order",k="b"} 1

                """
        )
    }

    @Test func interleavedSummarySeriesAreRegrouped() throws {
        let text = """
            # TYPE s summary
            s{m="a",quantile="0.5"} 1
            s{m="b",quantile="0.5"} 2
            s_sum{m="a"} 3
            s_sum{m="b"} 4
            s_count{m="a"} 5
            s_count{m="b"} 6
            """
        let merged = ExpositionMerger.merge([("order", try ExpositionParser.parse(text))], own: [])
        let lines = merged.split(separator: "\n").dropFirst().map {
            $0.split(separator: " ").last.map(String.init) ?? ""
        }
        #expect(lines == ["1", "3", "5", "2", "4", "6"])
    }

    @Test func conflictingEmptyFamilyStillLeavesANote() {
        let merged = ExpositionMerger.merge(
            [
                ("a", [gauge("g", [Sample(name: "g", value: "1")])]),
                ("b", [MetricFamily(name: "g", type: .counter)]),
            ],
            own: []
        )
        #expect(
            merged == """
                # orderd: dropped g from b: type counter conflicts with gauge
                # TYPE g gauge
                g{service="a"} 1

                """
        )
    }

    @Test func serviceNamesAreEscapedInLabelsAndNotes() throws {
        let merged = ExpositionMerger.merge(
            [
                ("a", [gauge("g", [Sample(name: "g", value: "1")])]),
                (
                    "we\"ird\\\nname",
                    [gauge("g", [Sample(name: "g", value: "2")]), MetricFamily(name: "g", type: .counter)]
                ),
            ],
            own: []
        )
        #expect(
            merged == #"""
                # orderd: dropped g from we"ird\\\nname: type counter conflicts with gauge
                # TYPE g gauge
                g{service="a"} 1
                g{service="we\"ird\\\nname"} 2

                """#
        )
        let parsed = try ExpositionParser.parse(merged)
        #expect(parsed.first?.samples.last?.label("service") == "we\"ird\\\nname")
    }

    @Test func gaugeNamedLikeAnotherServicesHistogramMemberStaysSeparate() throws {
        let gaugeFirst = try ExpositionParser.parse("# TYPE h_sum gauge\nh_sum 9\n")
        let histogram = try ExpositionParser.parse("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 2\nh_count 1\n")
        let merged = ExpositionMerger.merge([("inventory", gaugeFirst), ("order", histogram)], own: [])
        try expectWellFormedExposition(merged)
        let families = try ExpositionParser.parse(merged)
        #expect(families.map(\.name) == ["h_sum", "h"])
        #expect(families[0].samples.map(\.value) == ["9"])
        #expect(families[1].samples.map(\.name) == ["h_bucket", "h_sum", "h_count"])
    }

    @Test func mergeOfManySourcesIsWellFormed() throws {
        var sources: [(service: String, families: [MetricFamily]?)] = []
        for service in ["order", "payment", "inventory", "notification"] {
            let text = """
                # TYPE shared_total counter
                shared_total{service="inner"} 1
                # TYPE \(service)_only gauge
                \(service)_only 2
                # TYPE latency histogram
                latency_bucket{le="1"} 1
                latency_bucket{le="+Inf"} 1
                latency_sum 0.5
                latency_count 1
                """
            sources.append((service, try ExpositionParser.parse(text)))
        }
        let merged = ExpositionMerger.merge(sources, own: [])
        try expectWellFormedExposition(merged)
        let families = try ExpositionParser.parse(merged)
        #expect(
            families.map(\.name) == [
                "shared_total", "order_only", "latency", "payment_only", "inventory_only", "notification_only",
            ]
        )
        #expect(families[0].samples.map { $0.label("exported_service") } == Array(repeating: "inner", count: 4))
        #expect(families[2].samples.count == 16)
    }
}
