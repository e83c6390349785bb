import DDLCore
import Foundation
import NIOPosix

extension PeerCache {
    /// Makes room for `size` more bytes of `key`'s file: removes files unused for longer than
    /// ``Configuration/maxAge``, then the least recently used files that no request is using
    /// until the bytes fit. Returns whether they fit, and the files removed (whose
    /// directories the caller deletes, off the lock).
    func reserve(_ size: Int64, for key: CacheKey) -> (Bool, [CacheFile]) {
        let now = Date()
        let maxAge = configuration.maxAge.seconds
        let capacity = configuration.capacity
        return state.withLock { state in
            var evicted: [CacheFile] = []
            func evict(_ id: String) {
                guard let entry = state.entries.removeValue(forKey: id) else { return }
                state.storedBytes -= entry.storedBytes
                if let file = entry.file { evicted.append(file) }
            }
            for (id, entry) in state.entries where entry.users == 0 && id != key.id && now.timeIntervalSince(entry.lastUse) > maxAge {
                evict(id)
            }
            if state.storedBytes + size > capacity {
                let candidates = state.entries.filter { $0.key != key.id && $0.value.users == 0 && $0.value.storedBytes > 0 }
                    .sorted { $0.value.lastUse < $1.value.lastUse }
                for (id, _) in candidates where state.storedBytes + size > capacity { evict(id) }
            }
            guard state.storedBytes + size <= capacity else { return (false, evicted) }
            state.storedBytes += size
            return (true, evicted)
        }
    }
}

extension PeerCache {
    /// The cached files, most recently used first.
    package func list() async -> [PeerCacheAPI.CachedFile] {
        await ready()
        return state.withLock { state in
            state.entries.values.filter { $0.file != nil }.sorted { $0.lastUse > $1.lastUse }.map { entry in
                PeerCacheAPI.CachedFile(id: entry.key.id, url: entry.key.displayURL, validator: entry.key.validator, length: entry.plan.length,
                               storedBytes: entry.storedBytes, lastUse: Int64(entry.lastUse.timeIntervalSince1970))
            }
        }
    }

    /// Removes the cached file `id` (all of them when `nil`); returns how many were removed.
    /// A file a request is reading stays readable to it until it is done.
    package func remove(id: String?) async -> Int {
        await ready()
        let removed = state.withLock { state -> [CacheFile] in
            var removed: [CacheFile] = []
            for (entryID, entry) in state.entries where (id == nil || entryID == id) && entry.file != nil {
                state.storedBytes -= entry.storedBytes
                removed.append(entry.file!)
                if entry.users > 0 || !entry.plan.claimed.isEmpty {
                    // In use: keep claims and waiters, drop what is stored.
                    var fresh = PeerCache.Entry(key: entry.key, lastUse: entry.lastUse)
                    fresh.users = entry.users
                    fresh.plan.claimed = entry.plan.claimed
                    fresh.waiters = entry.waiters
                    state.entries[entryID] = fresh
                } else {
                    state.entries[entryID] = nil
                }
            }
            return removed
        }
        if !removed.isEmpty {
            // Sealed first: a fetch still storing into a removed file (a user's download, for a
            // seeded one) writes nothing more.
            try? await NIOThreadPool.singleton.runIfActive { CacheFile.retire(removed) }
        }
        return removed.count
    }
}
