import ArgumentParser
import Foundation
import MsgStore

/// `msgstore`: the server, the inspection tools and the benchmark, in one binary.
@main
struct MsgStoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "msgstore",
        abstract: "An embedded storage engine for messaging, and the server built on it.",
        subcommands: [ServeCommand.self, InspectCommand.self, VerifyCommand.self, StatsCommand.self, QueueCommand.self, BenchCommand.self, FanOutBenchCommand.self]
    )

    /// Parses the command line with `serve`'s options from the environment
    /// added (``ServeEnvironment``), then runs the command.
    static func main() async {
        let expansion = ServeEnvironment.expand(Array(CommandLine.arguments.dropFirst()),
                                                environment: ProcessInfo.processInfo.environment)
        for problem in expansion.problems {
            FileHandle.standardError.write(Data("msgstore: warning: \(problem)\n".utf8))
        }
        await main(expansion.arguments)
    }
}
