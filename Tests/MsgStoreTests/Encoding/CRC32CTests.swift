import Testing
@testable import MsgStore

@Suite struct CRC32CTests {
    @Test func knownVectors() {
        // RFC 3720 (iSCSI) B.4 test vectors and the classic "123456789" check value.
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).map { UInt8(31 - $0) }) == 0x113F_DB5C)
        #expect(CRC32C.checksum([]) == 0)
    }

    @Test func continuingEqualsWhole() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
            let first = CRC32C.checksum(Array(bytes[..<split]))
            #expect(CRC32C.checksum(Array(bytes[split...]), continuing: first) == CRC32C.checksum(bytes))
        }
    }

    @Test func softwareMatchesTheStandardCheckValue() {
        #expect(Array("123456789".utf8).withUnsafeBytes { CRC32C.softwareChecksum($0) } == 0xE306_9283)
    }

    /// The hardware path (when this CPU has it) and the software path agree
    /// at every length and alignment of a random buffer, and when continued.
    @Test func hardwareAndSoftwareAgreeAtEveryLengthAndAlignment() {
        var random = SeededGenerator(seed: testSeed())
        let bytes = (0..<300).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        bytes.withUnsafeBytes { raw in
            for offset in 0..<9 {
                for length in 0...(raw.count - offset) where length < 40 || length % 17 == 0 {
                    let slice = UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + length)])
                    let software = CRC32C.softwareChecksum(slice, continuing: 0x1234_5678)
                    #expect(CRC32C.checksum(slice, continuing: 0x1234_5678) == software, "offset \(offset) length \(length)")
                }
            }
        }
        print("CRC32C in hardware: \(CRC32C.isHardware)")
    }

    @Test func maskRoundTripsAndDiffers() {
        for value: UInt32 in [0, 1, 0xDEAD_BEEF, .max] {
            #expect(CRC32C.unmask(CRC32C.mask(value)) == value)
            #expect(CRC32C.mask(value) != value)
        }
    }
}
