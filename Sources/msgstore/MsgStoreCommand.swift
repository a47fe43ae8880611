import ArgumentParser
import MsgStore

/// `msgstore`: the server, the inspection tools and the benchmark, in one binary.
@main
struct MsgStoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "msgstore",
        abstract: "An embedded storage engine for messaging, and the server built on it.",
        subcommands: [ServeCommand.self, InspectCommand.self, VerifyCommand.self, QueueCommand.self, BenchCommand.self, FanOutBenchCommand.self]
    )
}
