import MsgStore
let arguments = Array(CommandLine.arguments.dropFirst())
if let scenario = arguments.first, scenario.hasPrefix("queue-") {
    await QueueScenario.run(arguments)
} else {
    print("usage: MsgStoreTestHelper SCENARIO ...")
}
