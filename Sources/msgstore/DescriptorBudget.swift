#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How `serve` shares its file descriptors: the soft `RLIMIT_NOFILE` is
/// raised to the hard limit at start, then split between the engine's table
/// files, a fixed reserve (log and queue segments, directories, the manifest,
/// event loops, the runtime's own) and HTTP connections. Connections get
/// what is left, so clients can never take the descriptors the engine and
/// the runtime need: beyond the cap, connections are closed at once.
struct DescriptorBudget: Equatable {
    /// The soft limit found at start.
    var previousSoftLimit: Int
    /// The soft limit in force (the hard limit, if raising worked).
    var softLimit: Int
    /// The hard limit.
    var hardLimit: Int
    /// SSTables the engine keeps open at most.
    var tableFiles: Int
    /// Descriptors kept for everything else of the process.
    var reserve: Int
    /// HTTP connections at most.
    var connections: Int

    /// Descriptors for the process besides tables and connections.
    static let fixedReserve = 128
    /// The most table files kept open, however high the limit.
    static let maxTableFiles = 500
    /// The most connections, however high the limit.
    static let maxConnections = 16_384

    /// Splits `limit` descriptors; `requestedConnections` (from `--max-connections`)
    /// is honoured up to what the limit leaves.
    static func plan(limit: Int, requestedConnections: Int?) -> (tableFiles: Int, reserve: Int, connections: Int) {
        let tableFiles = max(16, min(maxTableFiles, limit / 4))
        let available = max(1, limit - tableFiles - fixedReserve)
        let connections = min(requestedConnections ?? maxConnections, available, maxConnections)
        return (tableFiles, fixedReserve, max(1, connections))
    }

    /// Raises the soft limit as far as the hard limit allows and plans the split.
    static func raiseAndPlan(requestedConnections: Int?) -> DescriptorBudget {
        var limits = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits) == 0 else {
            let plan = plan(limit: 1024, requestedConnections: requestedConnections)
            return DescriptorBudget(previousSoftLimit: 1024, softLimit: 1024, hardLimit: 1024,
                                    tableFiles: plan.tableFiles, reserve: plan.reserve, connections: plan.connections)
        }
        let previous = limits.rlim_cur
        // RLIM_INFINITY as a hard limit: stay with a large finite value.
        let target = min(limits.rlim_max, rlim_t(1 << 20))
        if target > previous {
            var raised = limits
            raised.rlim_cur = target
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limits = raised }
        }
        let soft = Int(clamping: limits.rlim_cur)
        let plan = plan(limit: soft, requestedConnections: requestedConnections)
        return DescriptorBudget(
            previousSoftLimit: Int(clamping: previous), softLimit: soft, hardLimit: Int(clamping: limits.rlim_max),
            tableFiles: plan.tableFiles, reserve: plan.reserve, connections: plan.connections)
    }

    /// One log line.
    var description: String {
        "file descriptors: soft limit \(softLimit) (was \(previousSoftLimit), hard \(hardLimit)); "
            + "table files ≤ \(tableFiles), reserve \(reserve), HTTP connections ≤ \(connections)"
    }
}
