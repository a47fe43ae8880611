import Foundation

import Glibc

/// One Server-Sent Event, or a comment block (`: keepalive`).
struct ServerSentEvent: Equatable {
    var id: String?
    var data: String?
    var comments: [String] = []

    /// `data` parsed as a JSON object.
    var json: [String: Any]? {
        data.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }
}

/// A minimal HTTP/1.1 client over a plain socket for reading a streamed
/// response as it arrives (HummingbirdTesting's clients return a response only
/// once its body has ended): sends one `GET`, parses the head, de-chunks the
/// body and splits it into Server-Sent Events. Every blocking call runs on the
/// client's own dispatch queue, never on the test's cooperative threads.
final class EventStreamClient: @unchecked Sendable {
    private let queue = DispatchQueue(label: "EventStreamClient")
    private var fd: Int32 = -1
    private var raw: [UInt8] = []
    private var body: [UInt8] = []
    private var chunked = false
    private var contentLength: Int?
    private var chunkRemaining = 0
    private var inChunkData = false
    private var bodyEnded = false

    /// The response status.
    private(set) var status = 0
    /// The response header fields, names lowercased.
    private(set) var headers: [String: String] = [:]

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// Connects to `localhost:port`, sends `GET path` with `headers`, and reads the response head.
    static func connect(port: Int, path: String, headers: [String: String] = [:]) async throws -> EventStreamClient {
        let client = EventStreamClient()
        try await client.run { try client.open(port: port, path: path, headers: headers) }
        return client
    }

    /// The next event or comment block, nil when the body ended (the server closed the stream),
    /// or throws if none came within `timeout`.
    func next(timeout: Duration = .seconds(10)) async throws -> ServerSentEvent? {
        try await run { try self.nextBlocking(deadline: ContinuousClock.now.advanced(by: timeout)) }
    }

    /// The next event that is not a comment block (nil at the end of the body).
    func nextEvent(timeout: Duration = .seconds(10)) async throws -> ServerSentEvent? {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            guard let event = try await run({ try self.nextBlocking(deadline: deadline) }) else { return nil }
            if event.id != nil || event.data != nil { return event }
        }
    }

    /// The rest of the body (for error responses), up to `timeout`.
    func remainingBody(timeout: Duration = .seconds(10)) async throws -> Data {
        try await run {
            let deadline = ContinuousClock.now.advanced(by: timeout)
            while !self.bodyEnded { try self.receive(deadline: deadline) }
            defer { self.body.removeAll() }
            return Data(self.body)
        }
    }

    /// Closes the connection (the client "goes away").
    func close() {
        queue.sync {
            if fd >= 0 { _ = Glibc.close(fd) }
            fd = -1
        }
    }

    deinit { if fd >= 0 { _ = Glibc.close(fd) } }

    private func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try work() }) }
        }
    }

    // MARK: Blocking parts (on `queue`)

    private func open(port: Int, path: String, headers: [String: String]) throws {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo("localhost", "\(port)", &hints, &list) == 0, let first = list else {
            throw Failure(description: "cannot resolve localhost")
        }
        defer { freeaddrinfo(first) }
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            let socket = Glibc.socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            if socket >= 0 {
                if Glibc.connect(socket, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 {
                    fd = socket
                    break
                }
                _ = Glibc.close(socket)
            }
            entry = info.pointee.ai_next
        }
        guard fd >= 0 else { throw Failure(description: "cannot connect to localhost:\(port)") }
        var request = "GET \(path) HTTP/1.1\r\nHost: localhost:\(port)\r\nAccept: text/event-stream\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw Failure(description: "send failed") }
            sent += count
        }
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while true {
            if let end = find([13, 10, 13, 10], in: raw) {
                let head = String(decoding: raw[..<end], as: UTF8.self)
                raw.removeFirst(end + 4)
                let lines = head.components(separatedBy: "\r\n")
                let parts = lines[0].split(separator: " ")
                status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
                for line in lines.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    self.headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                chunked = self.headers["transfer-encoding"]?.lowercased() == "chunked"
                contentLength = self.headers["content-length"].flatMap { Int($0) }
                decode()
                return
            }
            try readSocket(deadline: deadline)
        }
    }

    private func nextBlocking(deadline: ContinuousClock.Instant) throws -> ServerSentEvent? {
        while true {
            if let end = find([10, 10], in: body) {
                let block = String(decoding: body[..<end], as: UTF8.self)
                body.removeFirst(end + 2)
                var event = ServerSentEvent()
                for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                    if line.hasPrefix(":") {
                        event.comments.append(line.dropFirst().trimmingCharacters(in: .whitespaces))
                    } else if line.hasPrefix("id: ") {
                        event.id = String(line.dropFirst(4))
                    } else if line.hasPrefix("data: ") {
                        event.data = (event.data.map { $0 + "\n" } ?? "") + line.dropFirst(6)
                    }
                }
                return event
            }
            if bodyEnded { return nil }
            try receive(deadline: deadline)
        }
    }

    /// Reads more from the socket and decodes what it can into `body`.
    private func receive(deadline: ContinuousClock.Instant) throws {
        try readSocket(deadline: deadline)
        decode()
    }

    private func readSocket(deadline: ContinuousClock.Instant) throws {
        let remaining = deadline - ContinuousClock.now
        guard remaining > .zero else { throw Failure(description: "timed out") }
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(min(remaining.components.seconds * 1000 + remaining.components.attoseconds / 1_000_000_000_000_000 + 1, 60_000))
        let ready = poll(&descriptor, 1, milliseconds)
        guard ready > 0 else {
            if ready == 0 { throw Failure(description: "timed out") }
            throw Failure(description: "poll failed")
        }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let count = chunk.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
        if count <= 0 {
            bodyEnded = true
            return
        }
        raw += chunk[..<count]
    }

    /// Moves what has arrived from `raw` to `body`, removing the chunked framing.
    private func decode() {
        guard chunked else {
            body += raw
            raw.removeAll()
            if let contentLength, body.count >= contentLength { bodyEnded = true }
            return
        }
        while true {
            if inChunkData {
                let take = min(chunkRemaining, raw.count)
                body += raw[..<take]
                raw.removeFirst(take)
                chunkRemaining -= take
                guard chunkRemaining == 0, raw.count >= 2 else { return }
                raw.removeFirst(2)  // CRLF after the data
                inChunkData = false
            } else {
                guard let end = find([13, 10], in: raw) else { return }
                let size = Int(String(decoding: raw[..<end], as: UTF8.self).split(separator: ";")[0], radix: 16) ?? 0
                raw.removeFirst(end + 2)
                if size == 0 {
                    bodyEnded = true
                    return
                }
                chunkRemaining = size
                inChunkData = true
            }
        }
    }

    private func find(_ pattern: [UInt8], in bytes: [UInt8]) -> Int? {
        guard bytes.count >= pattern.count else { return nil }
        for index in 0...(bytes.count - pattern.count) where bytes[index] == pattern[0] {
            if Array(bytes[index..<(index + pattern.count)]) == pattern { return index }
        }
        return nil
    }
}
