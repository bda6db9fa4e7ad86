import PrometheusExposition
import Testing

/// Parses a single sample line and returns its only sample.
private func onlySample(_ line: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Sample {
    let families = try ExpositionParser.parse(line)
    try #require(families.count == 1, sourceLocation: sourceLocation)
    try #require(families[0].samples.count == 1, sourceLocation: sourceLocation)
    return families[0].samples[0]
}

@Suite("Parser: sample lines")
struct ParserSampleLineTests {
    @Test func plainSampleWithoutLabels() throws {
        let sample = try onlySample("up 1")
        #expect(sample == Sample(name: "up", value: "1"))
    }

    @Test func labelsKeepTheirOrder() throws {
        let sample = try onlySample(#"events_processed_total{topic="orders.created",outcome="processed"} 3"#)
        #expect(sample.labels == [Label("topic", "orders.created"), Label("outcome", "processed")])
        #expect(sample.label("outcome") == "processed")
        #expect(sample.label("missing") == nil)
    }

    @Test func quotedValuesMayContainStructuralCharacters() throws {
        let sample = try onlySample(##"m{a="x}y",b="1,2",c="k=v",d="with  spaces ",e="# not a comment",f="{}"} 1"##)
        #expect(sample.labels.map(\.value) == ["x}y", "1,2", "k=v", "with  spaces ", "# not a comment", "{}"])
    }

    @Test func labelValueEscapesAreResolved() throws {
        let sample = try onlySample(#"m{q="say \"hi\"",b="C:\\dir\\",n="one\ntwo",end="\\"} 1"#)
        #expect(sample.labels.map(\.value) == ["say \"hi\"", #"C:\dir\"#, "one\ntwo", #"\"#])
    }

    @Test func escapedBackslashBeforeQuoteEndsTheValue() throws {
        // `\\"` is an escaped backslash followed by the closing quote.
        let sample = try onlySample(#"m{a="x\\",b="y"} 1"#)
        #expect(sample.labels == [Label("a", #"x\"#), Label("b", "y")])
    }

    @Test func unknownEscapesAreKeptLiterally() throws {
        let sample = try onlySample(#"m{a="tab\there",b="\u00e9"} 1"#)
        #expect(sample.labels.map(\.value) == [#"tab\there"#, #"\u00e9"#])
    }

    @Test func unicodeInLabelValues() throws {
        let sample = try onlySample(#"m{city="Zürich",box="📦",jp="注文"} 1"#)
        #expect(sample.labels.map(\.value) == ["Zürich", "📦", "注文"])
    }

    @Test func blanksAroundLabelTokensAndTrailingComma() throws {
        let sample = try onlySample("m { a = \"1\" ,\tb=\"2\" , } 7")
        #expect(sample.labels == [Label("a", "1"), Label("b", "2")])
        #expect(sample.value == "7")
    }

    @Test func emptyLabelSetAndNoBlankBeforeValue() throws {
        #expect(try onlySample("m{} 1").labels.isEmpty)
        #expect(try onlySample(#"m{a="b"}1"#).value == "1")
    }

    @Test(arguments: ["1", "-1", "0.5", "1e+06", "1E-3", "+Inf", "-Inf", "NaN", "-0", ".5"])
    func valueTextIsKeptVerbatim(_ value: String) throws {
        let sample = try onlySample("m \(value)")
        #expect(sample.value == value)
        #expect(sample.doubleValue != nil)
    }

    @Test func timestampsAreKeptVerbatim() throws {
        #expect(try onlySample("m 1 1700000000000").timestamp == "1700000000000")
        #expect(try onlySample("m 1 -5").timestamp == "-5")
        #expect(try onlySample("m 1").timestamp == nil)
    }

    @Test func metricNamesMayContainColons() throws {
        #expect(try onlySample("job:requests:rate5m 2").name == "job:requests:rate5m")
    }
}

@Suite("Parser: whitespace and structure")
struct ParserStructureTests {
    @Test func toleratesBlankLinesTrailingWhitespaceCRLFAndNoFinalNewline() throws {
        let text = "\n\n# TYPE a counter  \r\n  a{x=\"1\"} 1 \t\r\n\r\n\t\nb 2   "
        let families = try ExpositionParser.parse(text)
        #expect(
            families == [
                MetricFamily(name: "a", type: .counter, samples: [Sample(name: "a", labels: ["x": "1"], value: "1")]),
                MetricFamily(name: "b", type: .untyped, samples: [Sample(name: "b", value: "2")]),
            ]
        )
    }

    @Test func emptyAndCommentOnlyInputsGiveNoFamilies() throws {
        #expect(try ExpositionParser.parse("").isEmpty)
        #expect(try ExpositionParser.parse("\n\n  \n").isEmpty)
        #expect(try ExpositionParser.parse("#\n# just a comment\n#comment\n# help is lowercase\n").isEmpty)
    }

    @Test func helpTextIsUnescaped() throws {
        let families = try ExpositionParser.parse(
            #"# HELP m A \\ backslash,\na newline, "quotes" and \t kept; ünïcödé"# + "\n# TYPE m gauge\nm 1\n"
        )
        #expect(families.first?.help == "A \\ backslash,\na newline, \"quotes\" and \\t kept; ünïcödé")
    }

    @Test func helpWithoutTextIsEmptyAndHelpMayFollowType() throws {
        let families = try ExpositionParser.parse("# TYPE m counter\n# HELP m\nm 1\n# HELP n    spaced   out\nn 2\n")
        #expect(families.map(\.help) == ["", "spaced   out"])
        #expect(families.map(\.type) == [.counter, .untyped])
    }

    @Test func helpAndTypeWithoutBlankAfterHash() throws {
        let families = try ExpositionParser.parse("#HELP m text\n#\tTYPE m gauge\nm 1\n")
        #expect(
            families == [MetricFamily(name: "m", help: "text", type: .gauge, samples: [Sample(name: "m", value: "1")])]
        )
    }

    @Test func typeKeywordIsCaseInsensitive() throws {
        #expect(try ExpositionParser.parse("# TYPE m COUNTER\nm 1\n").first?.type == .counter)
    }

    @Test func declaredFamilyWithoutSamplesIsKept() throws {
        let families = try ExpositionParser.parse("# HELP m nothing yet\n# TYPE m histogram\n")
        #expect(families == [MetricFamily(name: "m", help: "nothing yet", type: .histogram)])
    }

    @Test func histogramMembersBelongToTheFamily() throws {
        let text = """
            # TYPE h histogram
            h_bucket{le="0.1"} 1
            h_bucket{le="+Inf"} 2
            h_sum 0.3
            h_count 2
            h_created 1.7e+09
            """
        let families = try ExpositionParser.parse(text)
        #expect(families.count == 1)
        #expect(families[0].name == "h")
        #expect(families[0].samples.map(\.name) == ["h_bucket", "h_bucket", "h_sum", "h_count", "h_created"])
    }

    @Test func summaryMembersBelongToTheFamily() throws {
        let text = """
            # TYPE s summary
            s{quantile="0.5"} 1
            s{quantile="0.99"} NaN
            s_sum 3
            s_count 2
            """
        let families = try ExpositionParser.parse(text)
        #expect(families.map(\.name) == ["s"])
        #expect(families[0].samples.map(\.name) == ["s", "s", "s_sum", "s_count"])
    }

    @Test func summaryDoesNotOwnBuckets() throws {
        let families = try ExpositionParser.parse("# TYPE s summary\ns_sum 1\ns_count 1\ns_bucket{le=\"1\"} 1\n")
        #expect(families.map(\.name) == ["s", "s_bucket"])
        #expect(families[1].type == .untyped)
    }

    @Test func samplesWithoutTypeFormUntypedFamiliesByExactName() throws {
        let families = try ExpositionParser.parse("x_bucket{le=\"1\"} 1\nx_sum 2\nx_count 3\nx 4\n")
        #expect(families.map(\.name) == ["x_bucket", "x_sum", "x_count", "x"])
        #expect(families.allSatisfy { $0.type == .untyped && $0.samples.count == 1 })
    }

    @Test func counterDoesNotOwnSuffixedNames() throws {
        let families = try ExpositionParser.parse("# TYPE c counter\nc 1\nc_sum 2\n")
        #expect(families.map(\.name) == ["c", "c_sum"])
    }

    @Test func splitFamilyIsGatheredInFirstAppearanceOrder() throws {
        let families = try ExpositionParser.parse("# TYPE a gauge\na{i=\"1\"} 1\n# TYPE b gauge\nb 2\na{i=\"2\"} 3\n")
        #expect(families.map(\.name) == ["a", "b"])
        #expect(families[0].samples.map(\.value) == ["1", "3"])
    }

    @Test func histogramMemberFoundByLookupAfterAnotherFamily() throws {
        let families = try ExpositionParser.parse(
            "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\n# TYPE g gauge\ng 1\nh_sum 4\nh_count 1\n"
        )
        #expect(families.map(\.name) == ["h", "g"])
        #expect(families[0].samples.map(\.name) == ["h_bucket", "h_sum", "h_count"])
    }

    @Test func currentFamilyWinsOverAnEqualNamedOtherFamily() throws {
        // A gauge literally called `h_sum` exists; inside the histogram block `h_sum`
        // still belongs to the histogram, and after the gauge's TYPE line it is the gauge's.
        let text = """
            # TYPE h_sum gauge
            h_sum{src="gauge"} 1
            # TYPE h histogram
            h_bucket{le="+Inf"} 1
            h_sum{src="histogram"} 2
            h_count 1
            """
        let families = try ExpositionParser.parse(text)
        #expect(families.map(\.name) == ["h_sum", "h"])
        #expect(families[0].samples.map { $0.label("src") } == ["gauge"])
        #expect(families[1].samples.map(\.name) == ["h_bucket", "h_sum", "h_count"])
    }

    @Test func exactFamilyWinsOverMembershipOutsideTheCurrentBlock() throws {
        let text = """
            # TYPE h histogram
            h_bucket{le="+Inf"} 1
            # TYPE h_count gauge
            h_count 7
            """
        let families = try ExpositionParser.parse(text)
        #expect(families.map(\.name) == ["h", "h_count"])
        #expect(families[1].samples == [Sample(name: "h_count", value: "7")])
    }
}
