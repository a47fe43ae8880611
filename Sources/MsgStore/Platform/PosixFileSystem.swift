#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The real file system: POSIX calls, retried on `EINTR`, errors as ``StoreError``.
public struct PosixFileSystem: FileSystem {
    /// Creates the POSIX file system.
    public init() {}

    public func open(_ path: String, mode: OpenMode) throws -> any StorageFile {
        let flags: Int32
        switch mode {
        case .read: flags = O_RDONLY
        case .readWrite: flags = O_RDWR
        case .create: flags = O_RDWR | O_CREAT
        case .createTruncate: flags = O_RDWR | O_CREAT | O_TRUNC
        }
        let fd = retryingOnInterrupt { Glibc.open(path, flags | O_CLOEXEC, 0o644) }
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT { throw StoreError(.notFound, "no such file", file: path, errno: code) }
            throw StoreError.io("open", file: path, errno: code)
        }
        return PosixStorageFile(fd: fd, path: path)
    }

    public func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public func rename(_ source: String, to destination: String) throws {
        guard Glibc.rename(source, destination) == 0 else {
            throw StoreError.io("rename to \(destination)", file: source, errno: errno)
        }
    }

    public func remove(_ path: String) throws {
        guard unlink(path) == 0 else {
            let code = errno
            if code == ENOENT { throw StoreError(.notFound, "no such file", file: path, errno: code) }
            throw StoreError.io("unlink", file: path, errno: code)
        }
    }

    public func createDirectory(_ path: String) throws {
        if exists(path) { return }
        let parent = directoryName(of: path)
        if parent != path, parent != ".", parent != "/", !exists(parent) {
            try createDirectory(parent)
        }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw StoreError.io("mkdir", file: path, errno: errno)
        }
    }

    public func syncDirectory(_ path: String) throws {
        let fd = retryingOnInterrupt { Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else { throw StoreError.io("open directory", file: path, errno: errno) }
        defer { Glibc.close(fd) }
        guard retryingOnInterrupt({ fsync(fd) }) == 0 else {
            throw StoreError.io("fsync directory", file: path, errno: errno)
        }
    }

    public func contentsOfDirectory(_ path: String) throws -> [String] {
        guard let directory = opendir(path) else {
            let code = errno
            if code == ENOENT { throw StoreError(.notFound, "no such directory", file: path, errno: code) }
            throw StoreError.io("opendir", file: path, errno: code)
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    public func fileSize(_ path: String) throws -> Int64 {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code = errno
            if code == ENOENT { throw StoreError(.notFound, "no such file", file: path, errno: code) }
            throw StoreError.io("stat", file: path, errno: code)
        }
        return Int64(info.st_size)
    }

    public func lock(_ path: String) throws -> any FileLock {
        let fd = retryingOnInterrupt { Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644) }
        guard fd >= 0 else { throw StoreError.io("open lock file", file: path, errno: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            Glibc.close(fd)
            if code == EWOULDBLOCK {
                throw StoreError(.locked, "the data directory is in use by another process (LOCK is held)", file: path, errno: code)
            }
            throw StoreError.io("flock", file: path, errno: code)
        }
        return PosixFileLock(fd: fd)
    }
}

/// An open POSIX file descriptor.
final class PosixStorageFile: StorageFile {
    let fd: Int32
    let path: String
    /// Set by the first ``close()``: later calls must not close the number
    /// again (by then it may belong to another file).
    private let isClosed = Atomic<Bool>(false)

    init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws {
        var written = 0
        while written < bytes.count {
            let result = pwrite(fd, bytes.baseAddress! + written, bytes.count - written, off_t(offset) + off_t(written))
            if result < 0 {
                if errno == EINTR { continue }
                throw StoreError.io("pwrite", file: path, errno: errno)
            }
            written += result
        }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        var total = 0
        while total < buffer.count {
            let result = pread(fd, buffer.baseAddress! + total, buffer.count - total, off_t(offset) + off_t(total))
            if result < 0 {
                if errno == EINTR { continue }
                throw StoreError.io("pread", file: path, errno: errno)
            }
            if result == 0 { break }
            total += result
        }
        return total
    }

    func sync() throws {
        guard retryingOnInterrupt({ fdatasync(fd) }) == 0 else {
            throw StoreError.io("fdatasync", file: path, errno: errno)
        }
    }

    func size() throws -> Int64 {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw StoreError.io("fstat", file: path, errno: errno) }
        return Int64(info.st_size)
    }

    func truncate(to size: Int64) throws {
        guard retryingOnInterrupt({ ftruncate(fd, off_t(size)) }) == 0 else {
            throw StoreError.io("ftruncate", file: path, errno: errno)
        }
    }

    /// Closes the descriptor. Idempotent: a second call does nothing (it
    /// never closes a descriptor number the system has since reused).
    func close() throws {
        guard !isClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        guard Glibc.close(fd) == 0 else { throw StoreError.io("close", file: path, errno: errno) }
    }
}

final class PosixFileLock: FileLock {
    let fd: Int32
    init(fd: Int32) { self.fd = fd }
    func unlock() {
        flock(fd, LOCK_UN)
        Glibc.close(fd)
    }
}

@inline(__always)
func retryingOnInterrupt(_ call: () -> Int32) -> Int32 {
    while true {
        let result = call()
        if result < 0 && errno == EINTR { continue }
        return result
    }
}
