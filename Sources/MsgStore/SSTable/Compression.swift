import CZstd
import Synchronization

/// zstd compression of blocks, with an optional dictionary.
///
/// Frames are written without content size, checksum or dictionary id (the
/// block trailer holds the raw size and a CRC32C, the file holds the
/// dictionary), which saves about 6–10 bytes per block.
final class ZstdCompressor {
    /// `ZSTD_CCtx *`, owned; freed in `deinit`.
    private let context: OpaquePointer
    /// `ZSTD_CDict *` when a dictionary is set, owned.
    private var dictionary: OpaquePointer?
    /// The compression level.
    let level: Int32
    private var output: [UInt8] = []

    /// Creates a compressor at `level` (1…19; 3 is zstd's default).
    init(level: Int32) {
        self.level = level
        context = ZSTD_createCCtx()!
        configure()
    }

    deinit {
        ZSTD_freeCCtx(context)
        if let dictionary { ZSTD_freeCDict(dictionary) }
    }

    private func configure() {
        ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(context, ZSTD_c_contentSizeFlag, 0)
        ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 0)
        ZSTD_CCtx_setParameter(context, ZSTD_c_dictIDFlag, 0)
    }

    /// Uses `bytes` (a trained dictionary) for every later block.
    func setDictionary(_ bytes: [UInt8]) {
        if let dictionary { ZSTD_freeCDict(dictionary) }
        dictionary = bytes.withUnsafeBytes { ZSTD_createCDict($0.baseAddress, $0.count, level) }
        ZSTD_CCtx_reset(context, ZSTD_reset_session_and_parameters)
        configure()
        ZSTD_CCtx_refCDict(context, dictionary)
    }

    /// Whether a dictionary is in use.
    var hasDictionary: Bool { dictionary != nil }

    /// Compresses `input`; returns the frame, or `nil` if zstd fails or the
    /// frame would not be smaller than the input (store it raw then).
    /// The returned view is valid until the next call.
    func compress(_ input: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> Void) rethrows -> Bool {
        let bound = ZSTD_compressBound(input.count)
        if output.count < bound { output = [UInt8](repeating: 0, count: bound) }
        let written = output.withUnsafeMutableBytes { out in
            ZSTD_compress2(context, out.baseAddress, out.count, input.baseAddress, input.count)
        }
        guard ZSTD_isError(written) == 0, written < input.count else { return false }
        try output.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[..<written])) }
        return true
    }
}

/// A digested dictionary for decompression (`ZSTD_DDict`), shared by all
/// threads reading one file. zstd documents a `ZSTD_DDict` as read-only after
/// creation, so sharing it is safe; it is freed with the last reference.
final class ZstdDecompressionDictionary: @unchecked Sendable {
    /// `ZSTD_DDict *`, owned.
    fileprivate let pointer: OpaquePointer
    /// Size of the raw dictionary in bytes.
    let size: Int

    /// Digests `bytes`; `nil` if zstd refuses them.
    init?(_ bytes: UnsafeRawBufferPointer) {
        guard let pointer = ZSTD_createDDict(bytes.baseAddress, bytes.count) else { return nil }
        self.pointer = pointer
        size = bytes.count
    }

    deinit { ZSTD_freeDDict(pointer) }
}

/// Decompresses zstd blocks. Keeps a small pool of `ZSTD_DCtx` (each ~100 KB)
/// so that concurrent readers neither share one nor create one per block.
final class ZstdDecompressor: Sendable {
    /// The process-wide decompressor.
    static let shared = ZstdDecompressor()

    /// Idle contexts (`ZSTD_DCtx *`); at most ``maxPoolSize`` are kept.
    private let pool = Mutex<[Context]>([])
    private let maxPoolSize = 16

    /// A `ZSTD_DCtx *` in transit between the pool and one thread: only the
    /// thread that took it out of the pool uses it, hence `@unchecked Sendable`.
    private struct Context: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    deinit {
        pool.withLock { contexts in for context in contexts { ZSTD_freeDCtx(context.pointer) } }
    }

    /// Decompresses the frame in `source` into `destination`, which must be
    /// exactly the recorded raw size. Returns whether the frame decoded to
    /// exactly that many bytes (anything else is corruption). The output is
    /// bounded by `destination.count` whatever the frame declares.
    func decompress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer, dictionary: ZstdDecompressionDictionary?) -> Bool {
        let taken = pool.withLock { $0.popLast() } ?? Context(pointer: ZSTD_createDCtx()!)
        let context = taken.pointer
        defer {
            let kept = pool.withLock { contexts -> Bool in
                guard contexts.count < maxPoolSize else { return false }
                contexts.append(taken)
                return true
            }
            if !kept { ZSTD_freeDCtx(context) }
        }
        let result: Int
        if let dictionary {
            result = ZSTD_decompress_usingDDict(context, destination.baseAddress, destination.count, source.baseAddress, source.count, dictionary.pointer)
        } else {
            result = ZSTD_decompressDCtx(context, destination.baseAddress, destination.count, source.baseAddress, source.count)
        }
        return ZSTD_isError(result) == 0 && result == destination.count
    }
}

/// Trains a zstd dictionary (`ZDICT_trainFromBuffer`).
enum ZstdDictionaryTrainer {
    /// Trains a dictionary of at most `capacity` bytes from the samples laid
    /// end to end in `samples` with lengths `sizes`; `nil` if zstd cannot
    /// (too few or too uniform samples).
    static func train(samples: [UInt8], sizes: [Int], capacity: Int) -> [UInt8]? {
        guard sizes.count >= 8, capacity >= 256 else { return nil }
        var dictionary = [UInt8](repeating: 0, count: capacity)
        let result = dictionary.withUnsafeMutableBytes { out in
            samples.withUnsafeBytes { input in
                sizes.withUnsafeBufferPointer { sizes in
                    ZDICT_trainFromBuffer(out.baseAddress, out.count, input.baseAddress, sizes.baseAddress, UInt32(sizes.count))
                }
            }
        }
        guard ZDICT_isError(result) == 0, result > 0 else { return nil }
        dictionary.removeSubrange(result...)
        return dictionary
    }
}
