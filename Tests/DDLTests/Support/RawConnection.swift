import Foundation
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A plain TCP connection for tests that need what AsyncHTTPClient cannot do: connect from
/// a chosen loopback address (another "host"), keep a connection open without a request,
/// or send a request and then never read the answer (a slowloris reader). Blocking calls run
/// on a thread pool of their own, so that they never hold up the one the code under test
/// resolves names on.
final class RawConnection: @unchecked Sendable {
    private let fd: Int32

    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        return pool
    }()

    /// Connects from `source` (any 127.x.y.z) to `127.0.0.1:port`. `receiveBuffer` shrinks
    /// the socket's receive buffer (set before connecting, so the window stays small).
    init(to port: Int, host: String = "127.0.0.1", from source: String = "127.0.0.1", receiveBuffer: Int32? = nil) async throws {
        let fd = try await RawConnection.pool.runIfActive { () throws -> Int32 in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            if var size = receiveBuffer {
                setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            }
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            inet_pton(AF_INET, source, &local.sin_addr)
            var remote = sockaddr_in()
            remote.sin_family = sa_family_t(AF_INET)
            remote.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, host, &remote.sin_addr)
            // The port is picked at connect (unique per destination), not at bind: the suite
            // leaves many connections in TIME_WAIT, and bind alone could run out of ports.
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_IP), 24 /* IP_BIND_ADDRESS_NO_PORT */, &one, socklen_t(MemoryLayout<Int32>.size))
            let bound = source == "127.0.0.1"
                ? 0
                : withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            let connected = withUnsafePointer(to: &remote) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard bound == 0, connected == 0 else {
                let code = errno
                close(fd)
                throw POSIXError(.init(rawValue: code) ?? .EIO)
            }
            var timeout = timeval(tv_sec: 20, tv_usec: 0)  // a test never waits for ever
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            return fd
        }
        self.fd = fd
    }

    /// Sends `text` as is.
    func send(_ text: String) async throws {
        let bytes = Array(text.utf8)
        let fd = self.fd
        try await RawConnection.pool.runIfActive {
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard n > 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
                offset += n
            }
        }
    }

    /// Reads one HTTP response with a `Content-Length` (or up to the end of the
    /// connection). `nil` when the server closed the connection before any byte.
    func readResponse() async throws -> (status: Int, body: String)? {
        let fd = self.fd
        return try await RawConnection.pool.runIfActive { () throws -> (Int, String)? in
            var data: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 16 << 10)
            while true {
                if let headEnd = Self.find([13, 10, 13, 10], in: data) {
                    let head = String(decoding: data[..<headEnd], as: UTF8.self)
                    let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
                    let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                        .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) }
                    if status == 204 || status == 304 { return (status, "") }  // no body by definition
                    if let length, data.count - headEnd - 4 >= length {
                        return (status, String(decoding: data[(headEnd + 4)..<(headEnd + 4 + length)], as: UTF8.self))
                    }
                }
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n == 0 {
                    guard !data.isEmpty else { return nil }
                    let text = String(decoding: data, as: UTF8.self)
                    return (Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0, text)
                }
                guard n > 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
                data += buffer[..<n]
            }
        }
    }

    /// Reads a response's status line, one byte at a time (nothing of the body).
    func readStatus() async throws -> Int {
        let fd = self.fd
        return try await RawConnection.pool.runIfActive {
            var line: [UInt8] = []
            var byte: UInt8 = 0
            while line.last != 10 {
                guard recv(fd, &byte, 1, 0) == 1 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
                line.append(byte)
            }
            return Int(String(decoding: line, as: UTF8.self).split(separator: " ").dropFirst().first ?? "") ?? 0
        }
    }

    /// Sends a request and reads its response.
    func request(_ method: String = "GET", _ path: String, headers: [String: String] = [:], body: String? = nil) async throws -> (status: Int, body: String)? {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: test\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if let body { text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
        text += "\r\n" + (body ?? "")
        try await send(text)
        return try await readResponse()
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for index in 0...(haystack.count - needle.count) where haystack[index..<(index + needle.count)].elementsEqual(needle) {
            return index
        }
        return nil
    }

    deinit { close(fd) }
}
