import DDLCore
import DDLServerSupport
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The seed socket (see ``SeedAPI``): a Unix socket at `<cache_dir>/.seed/seed.sock`, in a
/// directory of mode 0700 that only this peer's user may enter, through which a `ddl get` of
/// this machine hands its download to the cache (``PeerCache/seed(_:)``).
///
/// It never stops the peer: when the socket cannot be made (a path too long, a directory of
/// another user), the peer says so in its log and serves without it.
struct SeedSocket: Service {
    let cache: PeerCache
    let token: String?
    /// This peer's TCP port, once bound.
    let boundPort: Eventually<Int>
    let logger: Logger
    /// Set once the socket listens (`true`) or could not be made (`false`).
    let ready = Eventually<Bool>()

    var path: String { SeedAPI.socketPath(cacheDirectory: cache.configuration.directory) }

    func run() async throws {
        do {
            try Self.prepare(path)
        } catch {
            logger.warning("seed socket not available: downloads of this machine are not seeded from their own files", metadata: ["reason": "\(error)"])
            await ready.set(false)
            try? await gracefulShutdown()
            return
        }
        defer { unlink(path) }
        let router = Router(context: DDLRequestContext.self)
        // Only this user's processes: the directory admits no one else, and the kernel says
        // who connected (SO_PEERCRED).
        router.add(middleware: SameUserMiddleware())
        router.requireToken(token)
        router.get("/v1/seed") { [boundPort] _, _ in
            try jsonResponse(SeedAPI.Info(port: try await boundPort.wait()), status: .ok)
        }
        // Reading complete files, one at a time, after their answers.
        let (work, queue) = AsyncStream.makeStream(of: PeerCache.SealWork.self)
        router.post("/v1/seed") { [cache] request, context -> Response in
            let offer: SeedAPI.Offer
            do {
                offer = try await request.decode(as: SeedAPI.Offer.self, context: context)
            } catch {
                return problem(.badRequest, type: "bad-request", "expected a JSON seed offer (see docs/http-api.md)")
            }
            return try jsonResponse(await cache.seed(offer) { queue.yield($0) }, status: .ok)
        }
        let app = Application(
            router: router, configuration: .init(address: .unixDomainSocket(path: path), serverName: "ddl-peer-seed"),
            onServerRunning: { [ready] _ in await ready.set(true) }, logger: logger)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await job in work { await job() }
            }
            do {
                try await app.run()
            } catch {
                logger.warning("seed socket failed: downloads of this machine are not seeded from their own files", metadata: ["path": "\(path)", "error": "\(error)"])
                await ready.set(false)
                try? await gracefulShutdown()
            }
            // Files not read yet are not served whole until offered again; one being read
            // finishes.
            queue.finish()
            group.cancelAll()
        }
    }

    /// Makes the socket's directory (mode 0700, this user's) and removes a socket an earlier
    /// run left (the cache directory's lock says no other server uses it).
    static func prepare(_ path: String) throws(SeedRefusal) {
        guard path.utf8.count <= SeedAPI.maxSocketPathBytes else {
            throw SeedRefusal("its path \(path) is longer than \(SeedAPI.maxSocketPathBytes) bytes; use a shorter --cache-dir")
        }
        let directory = String(path[..<path.lastIndex(of: "/")!])
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw SeedRefusal("cannot create \(directory): \(String(cString: strerror(errno)))")
        }
        // Checked and made private through one descriptor, not following a link.
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw SeedRefusal("\(directory) is not a directory") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { throw SeedRefusal("\(directory) is not a directory") }
        guard info.st_uid == geteuid() else { throw SeedRefusal("\(directory) belongs to another user") }
        guard fchmod(fd, 0o700) == 0 else { throw SeedRefusal("cannot make \(directory) private: \(String(cString: strerror(errno)))") }
        if lstat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFSOCK else { throw SeedRefusal("\(path) exists and is not a socket") }
            unlink(path)
        }
    }
}

/// Refuses (`403 not-this-user`) a connection whose process runs as another user than this
/// peer, as the kernel reports it for a Unix socket (`SO_PEERCRED`), or when it cannot say.
struct SameUserMiddleware: RouterMiddleware {
    typealias Context = DDLRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let uid = await Self.peerUID(of: context.channel), uid == geteuid() else {
            return problem(.forbidden, type: "not-this-user", "only processes of the peer's own user may use the seed socket")
        }
        return try await next(request, context)
    }

    /// Linux's `struct ucred` (glibc shows it only with `_GNU_SOURCE`), as `SO_PEERCRED`
    /// fills it.
    struct Credentials: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// The user id of the process at the other end of a Unix socket.
    static func peerUID(of channel: any Channel) async -> uid_t? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        let credentials: Credentials? = try? await provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED)).get()
        return credentials?.uid
    }
}
