import AsyncHTTPClient
import DDLTLS
import DDLTrackerClient

extension ClientConfiguration {
    /// A client for the tracker at `url` with this configuration's token and tracker
    /// fingerprints; `pins` keeps the certificates learned (one per run).
    package func trackerClient(_ url: String, httpClient: HTTPClient, pins: PinnedCertificates) -> TrackerClient {
        TrackerClient(baseURL: url, httpClient: httpClient, token: token, fingerprints: trackerFingerprints, pins: pins)
    }
}
