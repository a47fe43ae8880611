import Foundation

/// How to reach the PostgreSQL database of ``PostgresMessagingStorage``, and
/// how the storage uses it.
///
/// Made from a URL in libpq's form (`postgres://user:password@host:port/database`,
/// `postgresql://` too; `?sslmode=disable|prefer|require`; `?host=/run/postgresql`
/// for a unix socket directory). The password is kept out of every description.
public struct PostgresStorageOptions: Sendable, CustomStringConvertible {
    /// Whether the connection is encrypted.
    public enum TLSMode: String, Sendable {
        /// Never: plain TCP.
        case disable
        /// If the server offers it (libpq's default).
        case prefer
        /// Always; fail if the server does not offer it.
        case require
    }

    /// The server's host name or address (ignored when ``unixSocketPath`` is set).
    public var host: String
    /// The server's TCP port (5432 by default).
    public var port: Int
    /// The path of the server's unix socket (`DIR/.s.PGSQL.PORT`), or nil for TCP.
    public var unixSocketPath: String?
    /// The role to connect as.
    public var username: String
    /// Its password, if the server asks for one. Never logged.
    public var password: String?
    /// The database.
    public var database: String
    /// Encryption of the connections.
    public var tls: TLSMode
    /// Connections of the pool at most (one more is held for LISTEN).
    public var maxConnections: Int
    /// Who this server is in the fan-out queue (`fanout_queue.leased_by`): by default
    /// `hostname/pid`, so an operator (or a test) sees which server holds a message.
    public var serverIdentity: String
    /// The longest an idle fan-out receive sleeps without checking the queue again.
    /// Enqueues and redrives wake receivers at once through LISTEN/NOTIFY and leases
    /// running out at their deadline; this bounds the wait if a notification is lost
    /// (the listening connection broke).
    public var wakeInterval: Duration

    /// Options from a database URL.
    /// - Throws: ``PostgresURLError`` when the URL is not a PostgreSQL URL.
    public init(url: String, maxConnections: Int = 16, wakeInterval: Duration = .seconds(1)) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "postgres" || scheme == "postgresql"
        else {
            throw PostgresURLError("The database URL must look like postgres://user:password@host:5432/database.")
        }
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] { query[item.name] = item.value ?? "" }
        let port = components.port ?? query["port"].flatMap { Int($0) } ?? 5432
        guard (1...65535).contains(port) else { throw PostgresURLError("The database URL's port must be 1...65535.") }
        self.port = port
        host = components.host.flatMap { $0.isEmpty ? nil : $0 } ?? "127.0.0.1"
        if let socketDirectory = query["host"], socketDirectory.hasPrefix("/") {
            unixSocketPath = "\(socketDirectory)/.s.PGSQL.\(port)"
        }
        guard let user = components.user, !user.isEmpty else {
            throw PostgresURLError("The database URL names no user (postgres://user@host/database).")
        }
        username = user
        password = components.password
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        database = path.isEmpty ? user : path
        switch query["sslmode"]?.lowercased() {
        case nil, "prefer", "allow": tls = .prefer
        case "disable": tls = .disable
        case "require", "verify-ca", "verify-full": tls = .require
        case let other?: throw PostgresURLError("Unknown sslmode '\(other)' (disable, prefer or require).")
        }
        guard maxConnections >= 1 else { throw PostgresURLError("At least one database connection is needed.") }
        self.maxConnections = maxConnections
        self.wakeInterval = wakeInterval
        serverIdentity = "\(ProcessInfo.processInfo.hostName)/\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// `user@host:port/database` (or the socket path): never the password.
    public var description: String {
        "\(username)@\(unixSocketPath ?? "\(host):\(port)")/\(database)"
    }
}

/// A database URL that cannot be used. Its text never contains the password.
public struct PostgresURLError: Error, CustomStringConvertible {
    /// What is wrong.
    public var description: String

    /// Creates an error.
    public init(_ description: String) { self.description = description }
}
