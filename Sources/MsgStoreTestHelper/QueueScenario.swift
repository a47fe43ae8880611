// Queue scenarios for the crash tests (Tests/MsgStoreTests/QueueCrashTests.swift)
// and the release-mode benchmark (Tools/queue-bench.sh).
//
//   queue-producer DIR TAG CONCURRENCY   enqueue forever; print "E <seq> <tag>.<n>" once durable
//   queue-consumer DIR SEED              receive forever; print "R <seq> <id> ok|BAD <attempt>",
//                                        ack most (then print "A <seq>"), leave some to time out
//   queue-drain DIR                      receive + ack until empty, then print "DONE" and exit
//   queue-crash-point DIR TAG            a producer and a consumer in one process on a queue with small
//                                        segments and consumer state and maxAttempts 2 (every fifth message
//                                        is nacked twice: it moves to the dead-letter queue), printing
//                                        E/R/A lines and "N <seq> <attempt>" before a nack, until the
//                                        crash point MSGSTORE_CRASH_POINT=name[:N]
//                                        kills it; prints "FINISHED" and exits if it did not fire in 10 s
//   queue-crash-check DIR                lists the queue without changing it: "M <seq> <id> ok|BAD" per
//                                        message, "D <originalSeq> <id> ok|BAD" per dead letter, then "CHECKED"
//   queue-bench DIR PRODUCERS COUNT [nosync]  enqueue rate, then receive+ack rate
//
// Every line is written with one write(2) call, so a SIGKILL leaves whole lines.
#if canImport(Glibc)
import Glibc
#endif
import MsgStore
import Synchronization

/// The queue scenarios of the test helper (a namespace, so other scenarios can sit beside it).
enum QueueScenario {
    /// Writes one line to stdout unbuffered (one `write` call).
    static func emit(_ line: String) {
        var bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress, $0.count) }
    }

    /// The payload of message `number` of producer `tag`: `id|filler`, with a
    /// length and filler the consumer can recompute to check the bytes.
    static func scenarioPayload(tag: String, number: Int) -> [UInt8] {
        let id = "\(tag).\(number)"
        var bytes = Array((id + "|").utf8)
        let length = (number &* 7919) % 3000
        for index in 0..<length { bytes.append(UInt8(97 + (index + number) % 26)) }
        return bytes
    }

    /// The id of a payload if its bytes are exactly what ``scenarioPayload(tag:number:)`` makes.
    static func checkScenarioPayload(_ payload: [UInt8]) -> (id: String, isIntact: Bool) {
        guard let bar = payload.firstIndex(of: UInt8(ascii: "|")) else { return ("?", false) }
        let id = String(decoding: payload[..<bar], as: UTF8.self)
        guard let dot = id.lastIndex(of: "."), let number = Int(id[id.index(after: dot)...]) else { return (id, false) }
        return (id, scenarioPayload(tag: String(id[..<dot]), number: number) == payload)
    }

    static func run(_ arguments: [String]) async {
        do {
            switch arguments[0] {
            case "queue-producer": try await produce(directory: arguments[1], tag: arguments[2], concurrency: Int(arguments[3]) ?? 4)
            case "queue-consumer": try await consume(directory: arguments[1], seed: UInt64(arguments[2]) ?? 1)
            case "queue-drain": try await drain(directory: arguments[1])
            case "queue-crash-point": try await crashPoint(directory: arguments[1], tag: arguments[2])
            case "queue-crash-check": try await crashCheck(directory: arguments[1])
            case "queue-bench": try await bench(directory: arguments[1], producers: Int(arguments[2]) ?? 1, count: Int(arguments[3]) ?? 10_000,
                                                   isSyncing: arguments.count < 5 || arguments[4] != "nosync")
            default: emit("unknown scenario \(arguments[0])"); exit(2)
            }
        } catch {
            emit("ERROR \(error)")
            exit(1)
        }
    }

    static func scenarioOptions() -> QueueOptions {
        var options = QueueOptions()
        options.maxSegmentBytes = 64 << 10   // many segments, many rolls and deletions
        options.maxConsumerStateBytes = 8 << 10
        options.maxAttempts = 1_000          // the crash test wants no dead letters
        options.maxMemoryPayloadBytes = 64 << 10  // most payloads are read back from disk
        return options
    }

    /// A message counter shared by the producer tasks.
    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    static func produce(directory: String, tag: String, concurrency: Int) async throws {
        let queue = try DurableQueue.open(directory: directory, options: scenarioOptions())
        let counter = Counter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    while true {
                        if worker == 0 {
                            // One producer enqueues batches, the others single messages.
                            let first = counter.value.add(3, ordering: .relaxed).oldValue
                            let numbers = Array(first..<(first + 3))
                            let sequences = try await queue.enqueue(batch: numbers.map { scenarioPayload(tag: tag, number: $0) })
                            for (sequence, number) in zip(sequences, numbers) { emit("E \(sequence) \(tag).\(number)") }
                        } else {
                            let number = counter.value.add(1, ordering: .relaxed).oldValue
                            let sequence = try await queue.enqueue(scenarioPayload(tag: tag, number: number))
                            emit("E \(sequence) \(tag).\(number)")
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    static func consume(directory: String, seed: UInt64) async throws {
        let queue = try DurableQueue.open(directory: directory, options: scenarioOptions())
        var random = seed | 1
        while true {
            let messages = try await queue.receive(max: 8, visibilityTimeout: .milliseconds(150), waitTimeout: .milliseconds(200))
            var toAck: [QueueMessage] = []
            for message in messages {
                let (id, isIntact) = checkScenarioPayload(message.payload)
                emit("R \(message.sequence) \(id) \(isIntact ? "ok" : "BAD") \(message.attempt)")
                random = random &* 6364136223846793005 &+ 1442695040888963407
                if (random >> 33) % 10 != 0 { toAck.append(message) }  // ~10% left to time out
            }
            if !toAck.isEmpty {
                try await queue.ack(toAck)
                for message in toAck { emit("A \(message.sequence)") }
            }
        }
    }

    static func drain(directory: String) async throws {
        let queue = try DurableQueue.open(directory: directory, options: scenarioOptions())
        while true {
            let messages = try await queue.receive(max: 64, visibilityTimeout: .seconds(30), waitTimeout: .milliseconds(300))
            if messages.isEmpty { break }
            for message in messages {
                let (id, isIntact) = checkScenarioPayload(message.payload)
                emit("R \(message.sequence) \(id) \(isIntact ? "ok" : "BAD") \(message.attempt)")
            }
            try await queue.ack(messages)
            for message in messages { emit("A \(message.sequence)") }
        }
        let stats = queue.stats
        try await queue.close()
        emit("DONE depth=\(stats.depth)")
    }

    /// Options for the crash-point runs: every queue crash point is reached within a few hundred messages.
    static func crashPointOptions() -> QueueOptions {
        var options = QueueOptions()
        options.maxSegmentBytes = 16 << 10
        options.maxConsumerStateBytes = 1 << 10
        options.maxAttempts = 2
        options.maxMemoryPayloadBytes = 16 << 10  // some payloads are read back from disk
        return options
    }

    /// The number in a scenario id (`tag.number`).
    static func scenarioNumber(_ id: String) -> Int? {
        guard let dot = id.lastIndex(of: ".") else { return nil }
        return Int(id[id.index(after: dot)...])
    }

    static func crashPoint(directory: String, tag: String) async throws {
        let queue = try DurableQueue.open(directory: directory, options: crashPointOptions())
        let counter = Counter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<2 {
                group.addTask {
                    while true {
                        let count = worker == 0 ? 3 : 1
                        let first = counter.value.add(count, ordering: .relaxed).oldValue
                        let numbers = Array(first..<(first + count))
                        let sequences = try await queue.enqueue(batch: numbers.map { scenarioPayload(tag: tag, number: $0) })
                        for (sequence, number) in zip(sequences, numbers) { emit("E \(sequence) \(tag).\(number)") }
                    }
                }
            }
            group.addTask {
                while true {
                    let messages = try await queue.receive(max: 8, visibilityTimeout: .seconds(60), waitTimeout: .milliseconds(100))
                    var toAck: [QueueMessage] = []
                    for message in messages {
                        let (id, isIntact) = checkScenarioPayload(message.payload)
                        emit("R \(message.sequence) \(id) \(isIntact ? "ok" : "BAD") \(message.attempt)")
                        if let number = scenarioNumber(id), number % 5 == 0 {
                            emit("N \(message.sequence) \(message.attempt)")
                            try await queue.nack(message)  // the second nack moves it to the dead-letter queue
                        } else {
                            toAck.append(message)
                        }
                    }
                    if !toAck.isEmpty {
                        try await queue.ack(toAck)
                        for message in toAck { emit("A \(message.sequence)") }
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: .seconds(10))
                emit("FINISHED")
                exit(0)
            }
            try await group.waitForAll()
        }
    }

    static func crashCheck(directory: String) async throws {
        var options = crashPointOptions()
        options.maxAttempts = Int.max  // list, move nothing
        let queue = try DurableQueue.open(directory: directory, options: options)
        for (target, prefix) in [(queue, "M"), (queue.deadLetterQueue!, "D")] {
            while true {
                let messages = try await target.receive(max: 1_000, visibilityTimeout: .seconds(600))
                if messages.isEmpty { break }
                for message in messages {
                    let (id, isIntact) = checkScenarioPayload(message.payload)
                    let sequence = prefix == "M" ? message.sequence : message.deadLetter?.originalSequence ?? 0
                    emit("\(prefix) \(sequence) \(id) \(isIntact ? "ok" : "BAD")")
                }
            }
        }
        try await queue.close()
        emit("CHECKED")
    }

    static func bench(directory: String, producers: Int, count: Int, isSyncing: Bool) async throws {
        var options = QueueOptions()
        options.sync = isSyncing ? .always : .none
        options.hasDeadLetterQueue = false
        let queue = try DurableQueue.open(directory: directory, options: options)
        let payload = [UInt8](repeating: 0x42, count: 128)
        let clock = ContinuousClock()
        let start = clock.now
        let perProducer = count / producers
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<producers {
                group.addTask { for _ in 0..<perProducer { _ = try await queue.enqueue(payload) } }
            }
            try await group.waitForAll()
        }
        let enqueueSeconds = seconds(clock.now - start)
        let enqueued = perProducer * producers
        let consumeStart = clock.now
        var consumed = 0
        while consumed < enqueued {
            let messages = try await queue.receive(max: 100)
            try await queue.ack(messages)
            consumed += messages.count
        }
        let consumeSeconds = seconds(clock.now - consumeStart)
        emit("queue-bench sync=\(isSyncing ? "always" : "none") producers=\(producers) enqueued=\(enqueued) enqueue/s=\(Int(Double(enqueued) / enqueueSeconds))"
             + " receive+ack(100/batch)/s=\(Int(Double(consumed) / consumeSeconds))")
        // One message at a time: receive one, ack one (each ack durable).
        _ = try await queue.enqueue(batch: Array(repeating: payload, count: 5_000))
        let singleStart = clock.now
        for _ in 0..<5_000 {
            let messages = try await queue.receive(max: 1)
            try await queue.ack(messages)
        }
        emit("queue-bench receive+ack(1 at a time)/s=\(Int(5_000 / seconds(clock.now - singleStart)))")
        try await queue.close()
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
