/// A seeded pseudo-random generator (SplitMix64): the same seed gives the same sequence on
/// every machine, so a campaign's inputs can be regenerated from its seed. Not for secrets.
public struct FuzzRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    /// The generator of one input of a campaign: depends only on the campaign's seed and the
    /// input's number, so input `iteration` is the same whatever ran before it.
    public init(seed: UInt64, iteration: Int) {
        var mixer = FuzzRandom(seed: seed ^ (UInt64(truncatingIfNeeded: iteration) &* 0xD1B5_4A32_D192_ED03))
        self.init(seed: mixer.next())
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<bound` (`bound` > 0).
    public mutating func below(_ bound: Int) -> Int {
        Int.random(in: 0..<bound, using: &self)
    }

    /// True with probability `1 / n`.
    public mutating func oneIn(_ n: Int) -> Bool {
        below(n) == 0
    }

    /// A random element of a non-empty collection.
    public mutating func pick<C: Collection>(_ elements: C) -> C.Element {
        elements[elements.index(elements.startIndex, offsetBy: below(elements.count))]
    }
}
