import Foundation

func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let data = try encoder.encode(value)
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write("\n".data(using: .utf8)!)
}

func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - text.count))
    return right ? fill + text : text + fill
}

func formatBytes<T: BinaryInteger>(_ bytes: T) -> String {
    let value = Double(bytes)
    if value >= 1_073_741_824 { return String(format: "%.2f GiB", value / 1_073_741_824) }
    if value >= 1_048_576 { return String(format: "%.2f MiB", value / 1_048_576) }
    if value >= 1024 { return String(format: "%.1f KiB", value / 1024) }
    return "\(bytes) B"
}
