/// Structure-aware mutations of a JSON document: members repeated (the same key twice),
/// renamed to keys the parser knows, dropped or moved; values replaced by another type, an edge
/// number, a long or odd string, a deep nest or a part of another document; arrays grown past
/// their limits.
struct JSONMutations {
    let vocabulary: JSONVocabulary
    /// Documents whose parts become values.
    let donors: [JSONValue]

    func mutate(_ value: inout JSONValue, random: inout FuzzRandom) {
        // Descend to a random node; mutate there.
        switch value {
        case .object(var members) where !members.isEmpty && !random.oneIn(3):
            let index = random.below(members.count)
            mutate(&members[index].value, random: &random)
            value = .object(members)
        case .array(var elements) where !elements.isEmpty && !random.oneIn(3):
            let index = random.below(elements.count)
            mutate(&elements[index], random: &random)
            value = .array(elements)
        default:
            mutateHere(&value, random: &random)
        }
    }

    private func mutateHere(_ value: inout JSONValue, random: inout FuzzRandom) {
        switch value {
        case .object(var members) where !members.isEmpty && !random.oneIn(4):
            let index = random.below(members.count)
            switch random.below(6) {
            case 0:
                // The same key again, with this value or another.
                var copy = members[index]
                if random.oneIn(2) { copy.value = randomValue(random: &random) }
                members.insert(copy, at: random.below(members.count + 1))
            case 1: members.remove(at: index)
            case 2: members[index].key = randomKey(random: &random)
            case 3:
                let key = randomKey(random: &random)
                let member = JSONMember(key, randomValue(random: &random))
                members.insert(member, at: random.below(members.count + 1))
            case 4: members.swapAt(index, random.below(members.count))
            default: members[index].value = randomValue(random: &random)
            }
            value = .object(members)
        case .array(var elements) where !elements.isEmpty && !random.oneIn(4):
            let index = random.below(elements.count)
            switch random.below(3) {
            case 0:
                let copies = random.oneIn(3) ? 90 + random.below(20) : 1 + random.below(3)
                elements.insert(contentsOf: Array(repeating: elements[index], count: copies), at: index)
            case 1: elements.remove(at: index)
            default: elements[index] = randomValue(random: &random)
            }
            value = .array(elements)
        default:
            value = randomValue(random: &random)
        }
    }

    private func randomKey(random: inout FuzzRandom) -> String {
        let key = random.pick(vocabulary.keys.isEmpty ? ["key"] : vocabulary.keys)
        switch random.below(8) {
        case 0: return key.uppercased()
        case 1: return key + " "
        case 2: return ""
        case 3: return key + "\u{0}"
        default: return key
        }
    }

    private func randomValue(random: inout FuzzRandom) -> JSONValue {
        switch random.below(10) {
        case 0: return .null
        case 1: return .bool(random.oneIn(2))
        case 2, 3: return .number(random.pick(ByteMutations.interestingNumbers))
        case 4, 5: return .string(randomString(random: &random))
        case 6:
            var nested = randomValue(random: &random)
            for _ in 0..<(1 + random.below(random.oneIn(8) ? 1000 : 4)) {
                nested =
                    random.oneIn(2) ? .array([nested]) : .object([JSONMember(random.pick(["a", "items"]), nested)])
            }
            return nested
        case 7: return random.oneIn(2) ? .array([]) : .object([])
        default:
            guard !donors.isEmpty else { return .null }
            return randomPart(of: random.pick(donors), random: &random)
        }
    }

    private func randomString(random: inout FuzzRandom) -> String {
        switch random.below(8) {
        case 0: return ""
        case 1: return String(repeating: "a", count: 60 + random.below(10))
        case 2:
            return String(repeating: random.pick(["x", "é", "\u{0}", " ", "\\", "\""]), count: 1 + random.below(300))
        case 3: return random.pick(["\u{0}", "\u{7F}", "\u{FEFF}", "e\u{301}", "\u{E9}", "\u{2028}", "💥", "\r\n"])
        case 4: return random.pick(ByteMutations.interestingNumbers)
        default: return random.pick(vocabulary.strings.isEmpty ? ["text"] : vocabulary.strings)
        }
    }

    /// A random subtree of `value` (sometimes the whole).
    private func randomPart(of value: JSONValue, random: inout FuzzRandom) -> JSONValue {
        guard !random.oneIn(3) else { return value }
        switch value {
        case .object(let members) where !members.isEmpty:
            return randomPart(of: random.pick(members).value, random: &random)
        case .array(let elements) where !elements.isEmpty:
            return randomPart(of: random.pick(elements), random: &random)
        default:
            return value
        }
    }
}

/// Words of a JSON format: the keys its objects have and string values it gives meaning to.
public struct JSONVocabulary: Sendable {
    public var keys: [String]
    public var strings: [String]

    public init(keys: [String], strings: [String]) {
        self.keys = keys
        self.strings = strings
    }
}
