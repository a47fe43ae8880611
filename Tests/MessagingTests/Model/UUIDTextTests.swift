import Foundation
import Testing
@testable import Messaging

/// The byte-by-byte UUID text against Foundation's.
@Suite struct UUIDTextTests {
    @Test func writesLowercaseAndParsesEitherCaseAsFoundationDoes() {
        for _ in 0..<2_000 {
            let uuid = UUID()
            let text = UUIDText.lowercase(uuid)
            #expect(text == uuid.uuidString.lowercased())
            #expect(UUIDText.parse(text) == uuid)
            #expect(UUIDText.parse(uuid.uuidString) == uuid)
            #expect(UserID(text)?.description == text)
        }
    }

    /// Well-formed text parses as Foundation parses it; anything else is
    /// refused — including strings Foundation's `sscanf`-based parser on
    /// Linux lets through (a non-hex character after a hex one in a pair,
    /// such as `…2895:e`, reads there as `…289500`).
    @Test func refusesEverythingButTheThirtySixCharacterForm() {
        let valid = "0f8fad5b-d9cb-469f-a165-70867728950e"
        var cases = ["", "0f8fad5b", valid + "0", String(valid.dropLast()), "0f8fad5bd9cb469fa16570867728950e",
                     "0f8fad5b-d9cb-469f-a165-70867728950g", "0f8fad5b_d9cb-469f-a165-70867728950e",
                     "0f8fad5-bd9cb-469f-a165-70867728950e", " f8fad5b-d9cb-469f-a165-70867728950e",
                     "{0f8fad5b-d9cb-469f-a165-70867728950e}", "0f8fad5b-d9cb-469f-a165-70867728950é"]
        // Every single-character replacement of the valid text.
        for index in 0..<36 {
            for replacement in ["-", "x", "G", "/", ":", "@", "`", "0", "F"] {
                var characters = Array(valid)
                characters[index] = Character(replacement)
                cases.append(String(characters))
            }
        }
        let hex = Set("0123456789abcdefABCDEF")
        for text in cases {
            let characters = Array(text)
            let wellFormed = characters.count == 36 && characters.enumerated().allSatisfy { index, character in
                [8, 13, 18, 23].contains(index) ? character == "-" : hex.contains(character)
            }
            if wellFormed {
                #expect(UUIDText.parse(text) == UUID(uuidString: text), "\(text)")
            } else {
                #expect(UUIDText.parse(text) == nil, "\(text)")
            }
        }
    }
}
