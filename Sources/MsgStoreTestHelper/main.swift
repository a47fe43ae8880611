import MsgStore
let arguments = Array(CommandLine.arguments.dropFirst())
if let scenario = arguments.first, scenario.hasPrefix("queue-") {
    await runQueueScenario(arguments)
} else {
    print("usage: MsgStoreTestHelper SCENARIO ...")
}
