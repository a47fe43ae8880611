import ArgumentParser
import MsgStore

@main
struct MsgStoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "msgstore",
        abstract: "An embedded storage engine for messaging, and the server built on it.",
        subcommands: [ServeCommand.self]
    )
}
