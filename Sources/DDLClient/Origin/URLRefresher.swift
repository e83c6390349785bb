import DDLCore

/// Resolves the URL the user gave again when the pinned URL stops answering the way an
/// expired signed URL does (release assets, object stores and CDNs redirect to short-lived
/// signed URLs): probes it anew, checks that it is still the same file (length and
/// validators), and hands the new URL to every source through the ``PinnedFile``. Only a real
/// change of the file ends the download. One resolution runs at a time; the copies that hit
/// the same expired URL meanwhile wait for it.
actor URLRefresher {
    /// What a refresh found.
    enum Outcome: Equatable {
        /// The pinned URL is a new one: retry with it.
        case refreshed
        /// Resolving the URL again gave the URL that failed: the failure is real.
        case unchanged
    }

    private let userURL: String
    private let pinned: PinnedFile
    private let probe: OriginProbe
    private let onRefresh: @Sendable (String) -> Void
    private var running: OneShot?
    private var lastOutcome: Result<Outcome, DownloadError>?
    /// Resolutions that gave a new URL.
    private(set) var refreshes = 0
    /// The last resolution that gave the URL that failed, and when.
    private var lastUnchanged: (String, ContinuousClock.Instant)?
    /// The last claim of an expiry that this machine's own request refuted, and when.
    private var lastRefuted: (String, ContinuousClock.Instant)?
    /// Most resolutions in one download, so that an origin that hands out URLs that never
    /// work cannot keep the download going in circles.
    static let maximumRefreshes = 100

    init(userURL: String, pinned: PinnedFile, probe: OriginProbe, onRefresh: @escaping @Sendable (String) -> Void) {
        self.userURL = userURL
        self.pinned = pinned
        self.probe = probe
        self.onRefresh = onRefresh
    }

    /// `failedURL` answered `status` as an expired URL does. Returns once the pinned URL is a
    /// fresh one (or was already replaced by another copy's refresh), or says that resolving
    /// again gives the same URL. Throws when the file changed or cannot be resolved.
    ///
    /// A claim from a source that is not the authority (a peer relaying the origin's answer)
    /// is checked first with a one-byte request of this machine's: a peer cannot make the
    /// download resolve the URL again, or use up its resolutions, by lying about it.
    func refresh(after failedURL: String, status: Int, claimedBy trust: SourceTrust) async throws(DownloadError) -> Outcome {
        while true {
            if pinned.current.url != failedURL { return .refreshed }
            if trust != .authoritative, await !confirmExpired(failedURL) { return .unchanged }
            if let running {
                await running.wait()
                if case let .success(outcome) = lastOutcome, outcome == .unchanged { return .unchanged }
                if case let .failure(error) = lastOutcome { throw error }
                continue
            }
            let signal = OneShot()
            running = signal
            defer {
                running = nil
                signal.fire()
            }
            let result: Result<Outcome, DownloadError>
            do {
                result = .success(try await resolve(failedURL, status: status))
            } catch {
                result = .failure(error)
            }
            lastOutcome = result
            return try result.get()
        }
    }

    /// Whether `url` really answers as an expired URL does. A "no" is remembered for a second
    /// (claims can come fast).
    private func confirmExpired(_ url: String) async -> Bool {
        if let (checked, at) = lastRefuted, checked == url, ContinuousClock.now - at < .seconds(1) { return false }
        guard let status = await probe.rangedStatus(of: url), expiredStatuses.contains(status) else {
            lastRefuted = (url, ContinuousClock.now)
            return false
        }
        return true
    }

    private func resolve(_ failedURL: String, status: Int) async throws(DownloadError) -> Outcome {
        // A peer can claim an expiry as often as it likes: resolving again is not repeated
        // for a second after it gave the same URL, and only resolutions that gave a new URL
        // count towards the limit.
        if let (url, at) = lastUnchanged, url == failedURL, ContinuousClock.now - at < .seconds(1) { return .unchanged }
        guard refreshes < Self.maximumRefreshes else {
            throw .origin("the origin answered HTTP \(status) for \(failedURL) after \(Self.maximumRefreshes) fresh resolutions of \(userURL)", status: status)
        }
        let current = pinned.current
        let fresh = try await probe.probe(userURL)
        if let why = fresh.differences(from: current) {
            throw .changed("the file changed on the server (\(why)) while its expired URL was resolved again")
        }
        guard fresh.url != failedURL else {
            lastUnchanged = (failedURL, ContinuousClock.now)
            return .unchanged
        }
        refreshes += 1
        var updated = current
        updated.url = fresh.url
        pinned.replace(with: updated)
        onRefresh("the pinned URL answered HTTP \(status) (expired?): resolved \(userURL) again and went on with the new URL")
        return .refreshed
    }
}
