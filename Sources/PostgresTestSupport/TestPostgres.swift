import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A throwaway PostgreSQL server for tests: `initdb` and `pg_ctl start` into a
/// fresh temporary directory on a free loopback port, one per test process
/// (``shared()``), and a fresh database per test (``createDatabase()``).
///
/// PostgreSQL refuses to run as root: when the tests run as root, the server's
/// directory is given to the unprivileged user `nobody` and `initdb`/`pg_ctl`
/// run through `runuser -u nobody --`. The server trusts local connections
/// (user `postgres`, no password) and runs with `fsync=off` (tests need no
/// durability across a machine crash). A watchdog process stops it
/// (`pg_ctl stop -m immediate`) and removes its directory as soon as the test
/// process exits, however it exits.
///
/// The binaries are found in `MSGSTORE_PG_BINDIR`, else the newest
/// `/usr/lib/postgresql/*/bin` (Debian's `postgresql` package, which
/// `Tools/install-deps.sh` installs), else on the `PATH`.
public final class TestPostgres: Sendable {
    /// The loopback port the server listens on.
    public let port: Int
    /// The directory of the server's binaries.
    public let binaryDirectory: String
    /// The temporary directory holding its data, socket and log.
    public let directory: String

    /// The server of this test process, started on first use.
    /// - Throws: ``TestPostgresError`` when it cannot be started (binaries missing, initdb failed).
    public static func shared() throws -> TestPostgres { try sharedServer.get() }

    private static let sharedServer = Result { try TestPostgres() }

    /// A `postgres://` URL of `database` on this server.
    public func url(database: String) -> String {
        "postgres://postgres@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    /// Creates an empty database with a fresh name and returns its URL.
    public func createDatabase() throws -> String {
        let name = "test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        _ = try psql(database: "postgres", "CREATE DATABASE \(name)")
        return url(database: name)
    }

    /// Runs SQL with `psql` against `database` and returns its unaligned, tuples-only output.
    @discardableResult
    public func psql(database: String, _ sql: String) throws -> String {
        try Self.run(binaryDirectory + "/psql", ["-X", "-h", "127.0.0.1", "-p", "\(port)", "-U", "postgres", "-d", database,
                                                 "-v", "ON_ERROR_STOP=1", "-At", "-c", sql], asServerUser: false)
    }

    private init() throws {
        binaryDirectory = try Self.findBinaries()
        // /tmp, not $TMPDIR: the server user must be able to reach it.
        let directory = "/tmp/msgstore-pg-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.directory = directory
        if getuid() == 0 {
            guard let nobody = getpwnam("nobody") else { throw TestPostgresError("running as root and there is no user 'nobody'") }
            try FileManager.default.setAttributes([.ownerAccountID: nobody.pointee.pw_uid, .groupOwnerAccountID: nobody.pointee.pw_gid],
                                                  ofItemAtPath: directory)
        }
        let data = directory + "/data"
        try Self.run(binaryDirectory + "/initdb", ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
                     asServerUser: true)
        // A free port: the kernel picks one, then the server binds it (another process could take it
        // in between: then start again on another).
        var started: Int?
        var lastError: (any Error)?
        for _ in 0..<5 where started == nil {
            let port = try Self.freePort()
            let settings = [
                "port=\(port)", "listen_addresses=127.0.0.1", "unix_socket_directories=\(directory)", "fsync=off",
                "synchronous_commit=off", "full_page_writes=off", "max_connections=400", "shared_buffers=64MB",
                "log_min_messages=warning",
            ].map { "-c \($0)" }.joined(separator: " ")
            do {
                try Self.run(binaryDirectory + "/pg_ctl", ["-D", data, "-l", directory + "/server.log", "-w", "-t", "60",
                                                           "-o", settings, "start"], asServerUser: true)
                started = port
            } catch {
                lastError = error
            }
        }
        guard let port = started else {
            let log = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? ""
            throw TestPostgresError("pg_ctl start failed: \(lastError.map { "\($0)" } ?? "?")\n\(log.suffix(2000))")
        }
        self.port = port
        try startWatchdog()
    }

    /// A shell that waits for this process to end, then stops the server and removes its directory.
    private func startWatchdog() throws {
        let stop = Self.command(binaryDirectory + "/pg_ctl", ["-D", directory + "/data", "-m", "immediate", "stop"], asServerUser: true)
            .map(Self.shellQuoted).joined(separator: " ")
        let script = """
            while kill -0 \(getpid()) 2>/dev/null; do sleep 0.5; done
            \(stop) >/dev/null 2>&1
            rm -rf \(Self.shellQuoted(directory))
            """
        let watchdog = Process()
        watchdog.executableURL = URL(fileURLWithPath: "/bin/sh")
        watchdog.arguments = ["-c", script]
        watchdog.standardInput = FileHandle.nullDevice
        watchdog.standardOutput = FileHandle.nullDevice
        watchdog.standardError = FileHandle.nullDevice
        try watchdog.run()
    }

    private static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    private static func findBinaries() throws -> String {
        let manager = FileManager.default
        if let directory = ProcessInfo.processInfo.environment["MSGSTORE_PG_BINDIR"], !directory.isEmpty {
            return directory
        }
        let versions = ((try? manager.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .compactMap(Int.init).sorted(by: >)
        for version in versions where manager.isExecutableFile(atPath: "/usr/lib/postgresql/\(version)/bin/initdb") {
            return "/usr/lib/postgresql/\(version)/bin"
        }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        where manager.isExecutableFile(atPath: "\(directory)/initdb") && manager.isExecutableFile(atPath: "\(directory)/pg_ctl") {
            return String(directory)
        }
        throw TestPostgresError("""
            PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin or on the PATH: \
            run Tools/install-deps.sh (apt-get install -y postgresql) or set MSGSTORE_PG_BINDIR
            """)
    }

    private static func freePort() throws -> Int {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketFD >= 0 else { throw TestPostgresError("socket() failed") }
        defer { close(socketFD) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(socketFD, raw, length) == 0 && getsockname(socketFD, raw, &length) == 0
            }
        }
        guard bound else { throw TestPostgresError("bind() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// The command line, through `runuser -u nobody --` for the server's own programs when root.
    private static func command(_ executable: String, _ arguments: [String], asServerUser: Bool) -> [String] {
        asServerUser && getuid() == 0 ? ["/usr/sbin/runuser", "-u", "nobody", "--", executable] + arguments : [executable] + arguments
    }

    /// Runs a command to its end and returns its output (standard output and error).
    ///
    /// Spawned with `posix_spawn`, every descriptor above 2 closed in the child, rather than with
    /// Foundation's `Process`: `pg_ctl start` leaves the server running in the background, and a
    /// descriptor it inherited (Foundation watches a child's end through a socket it passes
    /// down; other tests' pipes may be open too) would stay open as long as the server runs.
    @discardableResult
    private static func run(_ executable: String, _ arguments: [String], asServerUser: Bool) throws -> String {
        let line = command(executable, arguments, asServerUser: asServerUser)
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("msgstore-pg-cmd-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // glibc's GNU extensions (2.34, 2.29), which the Glibc module does not import.
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        typealias ChangeDirectory = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
        guard let closeFrom = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np"),
            let changeDirectory = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addchdir_np")
        else { throw TestPostgresError("this C library lacks posix_spawn_file_actions_addclosefrom_np (glibc 2.34 has it)") }
        _ = unsafeBitCast(closeFrom, to: CloseFrom.self)(&actions, 3)
        // A directory the server user may enter (initdb and pg_ctl look at their working directory).
        _ = unsafeBitCast(changeDirectory, to: ChangeDirectory.self)(&actions, "/tmp")
        let argv: [UnsafeMutablePointer<CChar>?] = line.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, line[0], &actions, nil, argv, environ)
        guard spawned == 0 else { throw TestPostgresError("cannot start \(line[0]): error \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw TestPostgresError("waitpid failed for \(line[0]): error \(errno)") }
        }
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        // Exited normally (the low 7 bits are 0) with status 0.
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            throw TestPostgresError("\(line.joined(separator: " ")) failed (wait status \(status)): \(text)")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Why the test server could not be started or used.
public struct TestPostgresError: Error, CustomStringConvertible {
    /// What failed.
    public var description: String

    /// Creates an error.
    public init(_ description: String) { self.description = description }
}
