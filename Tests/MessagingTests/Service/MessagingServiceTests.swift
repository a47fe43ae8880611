import Messaging
import Testing

@Suite struct MessagingServiceTests {
    let service = MessagingService(storage: InMemoryMessagingStorage(), limits: MessagingLimits(maxContentBytes: 16))

    private func expectError(_ code: MessagingError.Code, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("expected \(code)")
        } catch let error as MessagingError {
            #expect(error.code == code, "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func directMessageReachesTheRecipientWithEqualDateAndSentAt() async throws {
        let alice = try await service.newUser()
        let bob = try await service.newUser()
        let sent = try await service.sendDirectMessage(from: alice, to: bob, content: "hi")
        let page = try await service.inbox(of: bob, after: nil, limit: nil)
        #expect(page.messages.count == 1)
        let message = try #require(page.messages.first)
        #expect(message.messageID == sent.messageID)
        #expect(message.date == sent.date && message.sentAt == sent.date)
        #expect(message.sender == alice && message.recipient == bob && message.groupID == nil)
        #expect(page.nextPageToken == nil)
        #expect(try await service.inbox(of: alice, after: nil, limit: nil).messages.isEmpty)
    }

    @Test func contentLimits() async throws {
        let alice = try await service.newUser()
        let bob = try await service.newUser()
        await expectError(.badRequest) { _ = try await service.sendDirectMessage(from: alice, to: bob, content: "") }
        await expectError(.payloadTooLarge) {
            _ = try await service.sendDirectMessage(from: alice, to: bob, content: String(repeating: "é", count: 9))
        }
        _ = try await service.sendDirectMessage(from: alice, to: bob, content: String(repeating: "é", count: 8))
    }

    @Test func blocks() async throws {
        let alice = try await service.newUser()
        let bob = try await service.newUser()
        try await service.setBlock(blocker: bob, blocked: alice, isBlocked: true)
        try await service.setBlock(blocker: bob, blocked: alice, isBlocked: true)
        await expectError(.forbidden) { _ = try await service.sendDirectMessage(from: alice, to: bob, content: "x") }
        #expect(try await service.inbox(of: bob, after: nil, limit: nil).messages.isEmpty, "nothing stored")
        _ = try await service.sendDirectMessage(from: bob, to: alice, content: "x")
        try await service.setBlock(blocker: bob, blocked: alice, isBlocked: false)
        try await service.setBlock(blocker: bob, blocked: alice, isBlocked: false)
        _ = try await service.sendDirectMessage(from: alice, to: bob, content: "x")
        await expectError(.badRequest) { try await service.setBlock(blocker: bob, blocked: bob, isBlocked: true) }
        await expectError(.notFound) { try await service.setBlock(blocker: bob, blocked: .random(), isBlocked: true) }
        await expectError(.notFound) { try await service.setBlock(blocker: .random(), blocked: bob, isBlocked: true) }
    }

    @Test func notFound() async throws {
        let alice = try await service.newUser()
        let group = try await service.newGroup(members: [alice])
        await expectError(.notFound) { _ = try await service.sendDirectMessage(from: alice, to: .random(), content: "x") }
        await expectError(.notFound) { _ = try await service.sendDirectMessage(from: .random(), to: alice, content: "x") }
        await expectError(.notFound) { _ = try await service.sendGroupMessage(from: alice, to: .random(), content: "x") }
        await expectError(.notFound) { _ = try await service.sendGroupMessage(from: .random(), to: group, content: "x") }
        await expectError(.notFound) { _ = try await service.inbox(of: .random(), after: nil, limit: nil) }
        await expectError(.notFound) { _ = try await service.members(of: .random()) }
        await expectError(.notFound) { try await service.addMember(.random(), to: group) }
        await expectError(.notFound) { try await service.addMember(alice, to: .random()) }
        await expectError(.notFound) { try await service.removeMember(.random(), from: group) }
        await expectError(.notFound) { try await service.removeMember(alice, from: .random()) }
    }

    /// Member lists page by id with a token; every member exactly once.
    @Test(arguments: [1, 3, 7, 1000])
    func memberPages(pageSize: Int) async throws {
        var users: [UserID] = []
        for _ in 0..<20 { users.append(try await service.newUser()) }
        let group = try await service.newGroup(members: users)
        var seen: [UserID] = []
        var after: UserID?
        var pages = 0
        repeat {
            let page = try await service.members(of: group, after: after, limit: pageSize)
            #expect(page.members.count <= pageSize)
            #expect(page.nextPageToken == nil || page.members.count == pageSize)
            seen += page.members
            after = page.nextPageToken
            pages += 1
        } while after != nil
        #expect(seen == users.sorted())
        #expect(pages == (users.count + pageSize - 1) / pageSize)
        for limit in [0, -1, 1001] {
            await expectError(.badRequest) { _ = try await service.members(of: group, limit: limit) }
        }
    }

    @Test func membership() async throws {
        let alice = try await service.newUser()
        let bob = try await service.newUser()
        let group = try await service.newGroup(members: [alice, bob, alice])
        #expect(try await service.members(of: group).members == [alice, bob].sorted())
        try await service.removeMember(alice, from: group)
        try await service.removeMember(alice, from: group)
        #expect(try await service.members(of: group).members == [bob])
        await expectError(.forbidden) { _ = try await service.sendGroupMessage(from: alice, to: group, content: "x") }
    }

    @Test func blocksAreNotCheckedForGroupMessages() async throws {
        let alice = try await service.newUser()
        let bob = try await service.newUser()
        try await service.setBlock(blocker: bob, blocked: alice, isBlocked: true)
        let group = try await service.newGroup(members: [alice, bob])
        _ = try await service.sendGroupMessage(from: alice, to: group, content: "x")
    }

    @Test func pageLimitBounds() async throws {
        let alice = try await service.newUser()
        await expectError(.badRequest) { _ = try await service.inbox(of: alice, after: nil, limit: 0) }
        await expectError(.badRequest) { _ = try await service.inbox(of: alice, after: nil, limit: 1001) }
        _ = try await service.inbox(of: alice, after: nil, limit: 1000)
        _ = try await service.inbox(of: alice, after: nil, limit: 1)
    }

    @Test func noNextPageTokenWhenTheLastPageIsExactlyFull() async throws {
        let alice = try await service.newUser()
        let bob = try await service.newUser()
        for index in 0..<10 { _ = try await service.sendDirectMessage(from: alice, to: bob, content: "\(index)") }
        let first = try await service.inbox(of: bob, after: nil, limit: 5)
        #expect(first.messages.count == 5)
        let token = try #require(first.nextPageToken)
        let second = try await service.inbox(of: bob, after: token, limit: 5)
        #expect(second.messages.map(\.content) == ["5", "6", "7", "8", "9"])
        #expect(second.nextPageToken == nil)
        let whole = try await service.inbox(of: bob, after: nil, limit: 10)
        #expect(whole.messages.count == 10 && whole.nextPageToken == nil)
    }

    @Test func closedStorageIsUnavailable() async throws {
        try await service.storage.close()
        await expectError(.unavailable) { _ = try await service.createUser() }
        await expectError(.unavailable) { try await service.checkHealth() }
    }
}
