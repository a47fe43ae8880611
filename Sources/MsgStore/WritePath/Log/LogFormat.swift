// Record framing shared by the write-ahead log, the manifest and the queue
// segments (LevelDB's log format, `doc/log_format.md`; see docs/log-format.md).
//
// A log file is a sequence of 32 KiB blocks. A record is written as one or
// more fragments; a fragment never crosses a block boundary:
//
//     block := fragment* trailer?
//     fragment :=
//       +-----------+-----------+--------+----------------------+
//       | crc: u32  | length:u16| type:u8| payload: length bytes |
//       +-----------+-----------+--------+----------------------+
//        0           4           6        7
//     crc     = mask(crc32c(type byte ‖ payload)), little-endian
//     length  = payload bytes in this fragment, little-endian
//     type    = 1 full | 2 first | 3 middle | 4 last  (0 = zero fill, never written)
//     trailer = fewer than 7 bytes left in a block: filled with zeros and skipped
//
// A record that fits in the rest of the block is one `full` fragment;
// otherwise `first`, any number of `middle`s, and `last`. An empty record is
// a `full` fragment with length 0. Readers check every CRC and every length.

/// Constants of the log record framing.
enum LogFormat {
    /// Size of a block; fragments never span two blocks.
    static let blockSize = 32 * 1024
    /// crc (4) + length (2) + type (1).
    static let headerSize = 7

    /// The type byte of a fragment.
    enum FragmentType: UInt8 {
        case zero = 0
        case full = 1
        case first = 2
        case middle = 3
        case last = 4
    }
}
