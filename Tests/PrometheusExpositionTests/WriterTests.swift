import PrometheusExposition
import Testing

@Suite("Writer")
struct WriterTests {
    @Test func writesHelpTypeAndSamples() {
        let families = [
            MetricFamily(
                name: "a",
                help: "Help.",
                type: .counter,
                samples: [
                    Sample(name: "a", labels: ["x": "1", "y": "2"], value: "3", timestamp: "1700000000000"),
                    Sample(name: "a", value: "+Inf"),
                ]
            ),
            MetricFamily(name: "b", type: .untyped, samples: [Sample(name: "b", value: "NaN")]),
            MetricFamily(name: "c", help: "", type: .gauge),
        ]
        #expect(
            ExpositionWriter.write(families) == """
                # HELP a Help.
                # TYPE a counter
                a{x="1",y="2"} 3 1700000000000
                a +Inf
                # TYPE b untyped
                b NaN
                # HELP c
                # TYPE c gauge

                """
        )
    }

    @Test func noFamiliesGiveEmptyText() {
        #expect(ExpositionWriter.write([]) == "")
    }

    @Test func escapesLabelValuesAndHelp() {
        let family = MetricFamily(
            name: "m",
            help: "back\\slash\nnewline \"quotes stay\" ✓",
            type: .gauge,
            samples: [
                Sample(name: "m", labels: ["v": "a\"b\\c\nd ✓ {},="], value: "1")
            ]
        )
        #expect(
            ExpositionWriter.write([family]) == #"""
                # HELP m back\\slash\nnewline "quotes stay" ✓
                # TYPE m gauge
                m{v="a\"b\\c\nd ✓ {},="} 1

                """#
        )
    }

    @Test func roundTripOfTrickyText() throws {
        let text = #"""
            # HELP esc A \\ and \n and \q and "q"
            # TYPE esc counter
            esc{a="\"",b="\\",c="\n",d="\t",e="}{,= ",f="ü📦"} 1 123
            esc{ a = "x" , } 1e+06
            # TYPE h histogram
            h_bucket{le="0.005"} 0
            h_bucket{le="+Inf"} 1
            h_sum 0.001
            h_count 1
            # TYPE s summary
            s{quantile="0.5"} NaN
            s_sum 0
            s_count 0
            loose -Inf
            # HELP only_help nothing else
            """#
        let families = try ExpositionParser.parse(text)
        let rewritten = ExpositionWriter.write(families)
        #expect(try ExpositionParser.parse(rewritten) == families)
        #expect(ExpositionWriter.write(try ExpositionParser.parse(rewritten)) == rewritten)
    }

    @Test func roundTripOfGeneratedFamilies() throws {
        let awkward = [
            "", "plain", "\"", "\\", "\n", "\\n", "\\\"", "a\"b\\c\nd", "}", ",", "=", " lead", "trail ", "ü", "📦", "#",
        ]
        var samples: [Sample] = []
        for (index, value) in awkward.enumerated() {
            samples.append(Sample(name: "g", labels: ["i": "\(index)", "v": value], value: "\(index)"))
        }
        let helps = awkward.filter { !$0.hasPrefix(" ") && !$0.hasSuffix(" ") }
        let families = [MetricFamily(name: "g", help: helps.joined(separator: "|"), type: .gauge, samples: samples)]
        #expect(try ExpositionParser.parse(ExpositionWriter.write(families)) == families)
    }
}
