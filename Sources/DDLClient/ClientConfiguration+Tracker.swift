import AsyncHTTPClient
import DDLTLS
import DDLTrackerClient

extension ClientConfiguration {
    /// The configured trackers with this configuration's token and tracker fingerprints;
    /// `pins` keeps the certificates learned (one per run).
    package func trackerSet(httpClient: HTTPClient, pins: PinnedCertificates) -> TrackerSet {
        TrackerSet(baseURLs: trackerURLs, httpClient: httpClient, token: token, fingerprints: trackerFingerprints, pins: pins)
    }
}
