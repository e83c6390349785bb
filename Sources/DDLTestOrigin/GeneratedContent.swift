import Crypto
import DDLCore
import NIOCore

/// Deterministic pseudo-random file content of any length, generated on the fly without
/// storing the file: a 1 MiB random block, rotated differently for every MiB, so that a
/// piece written at the wrong offset changes the file's hash.
public struct GeneratedContent: Sendable {
    static let blockShift = 20
    static let blockSize = 1 << blockShift
    static let blockMask = blockSize - 1

    /// Length in bytes.
    public let length: Int64
    private let block: [UInt8]

    /// Creates content of `length` bytes from `seed`.
    public init(length: Int64, seed: UInt64 = 0x5EED_DD1) {
        self.length = length
        var state = seed | 1
        var block = [UInt8](repeating: 0, count: Self.blockSize)
        block.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for i in 0..<words.count {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                words[i] = state
            }
        }
        self.block = block
    }

    /// Appends the bytes of `range` (which must lie within the content) to `buffer`.
    public func write(_ range: ByteRange, into buffer: inout ByteBuffer) {
        precondition(range.last < length)
        var offset = range.first
        block.withUnsafeBytes { raw in
            while offset <= range.last {
                let chunk = offset >> Self.blockShift
                let within = Int(offset & Int64(Self.blockMask))
                let chunkEnd = min((chunk + 1) << Self.blockShift, range.last + 1)
                var remaining = Int(chunkEnd - offset)
                var position = (within + Int(chunk &* 4099)) & Self.blockMask
                while remaining > 0 {
                    let n = min(remaining, Self.blockSize - position)
                    buffer.writeBytes(UnsafeRawBufferPointer(rebasing: raw[position..<(position + n)]))
                    remaining -= n
                    position = (position + n) & Self.blockMask
                }
                offset = chunkEnd
            }
        }
    }

    /// The bytes of `range` as a buffer.
    public func bytes(_ range: ByteRange) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: Int(range.count))
        write(range, into: &buffer)
        return buffer
    }

    /// SHA-256 of the whole content, lowercase hex.
    public func sha256() -> String {
        digest(SHA256.self).map { byte in
            let hex = Array("0123456789abcdef")
            return String([hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
        }.joined()
    }

    /// The digest of the whole content with `hash` (`SHA256.self`, `SHA512.self`…).
    public func digest<H: HashFunction>(_ hash: H.Type) -> H.Digest {
        var hasher = H()
        var offset: Int64 = 0
        var buffer = ByteBufferAllocator().buffer(capacity: Self.blockSize)
        while offset < length {
            let last = min(offset + Int64(Self.blockSize), length) - 1
            buffer.clear()
            write(ByteRange(first: offset, last: last), into: &buffer)
            buffer.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
            offset = last + 1
        }
        return hasher.finalize()
    }
}
