@testable import DDLClient
import DDLCore
import Testing

/// A URL's identity for caching and piece ownership: signing parameters left out, the rest
/// kept as it was.
@Suite struct URLIdentityTests {
    func identity(_ url: String, ignoring: [String] = []) -> String { URLIdentity(url, ignoring: ignoring).url }

    @Test func awsSigV4ParametersAreLeftOutAndTheOthersKeptInOrder() {
        let signed = "https://bucket.s3.amazonaws.com/dir/file.iso?response-content-disposition=attachment&X-Amz-Algorithm=AWS4-HMAC-SHA256"
            + "&X-Amz-Credential=AKIA%2F20261124%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261124T120000Z&X-Amz-Expires=3600"
            + "&X-Amz-SignedHeaders=host&x-id=GetObject&X-Amz-Security-Token=FQoG&X-Amz-Signature=abc123"
        let identity = URLIdentity(signed)
        #expect(identity.url == "https://bucket.s3.amazonaws.com/dir/file.iso?response-content-disposition=attachment&x-id=GetObject")
        #expect(identity.leftOutCredentials)
        // Signed again, later, by someone else: the same identity.
        let again = signed.replacingOccurrences(of: "abc123", with: "ffee99").replacingOccurrences(of: "20261124T120000Z", with: "20261125T080000Z")
        #expect(self.identity(again) == identity.url)
    }

    @Test func awsSigV2ParametersAreLeftOut() {
        let url = "https://bucket.s3.amazonaws.com/file.iso?AWSAccessKeyId=AKIA&Expires=1764000000&Signature=dGVzdA%3D%3D&x-amz-security-token=FQoG"
        #expect(identity(url) == "https://bucket.s3.amazonaws.com/file.iso")
    }

    @Test func googleCloudStorageV4AndV2ParametersAreLeftOut() {
        let v4 = "https://storage.googleapis.com/b/o.tar?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=sa%40p.iam.gserviceaccount.com%2F20261124%2Fauto%2Fstorage%2Fgoog4_request"
            + "&X-Goog-Date=20261124T120000Z&X-Goog-Expires=900&X-Goog-SignedHeaders=host&generation=17&X-Goog-Signature=0a1b"
        #expect(identity(v4) == "https://storage.googleapis.com/b/o.tar?generation=17")
        let v2 = "https://storage.googleapis.com/b/o.tar?GoogleAccessId=sa%40p.iam.gserviceaccount.com&Expires=1764000000&Signature=c2ln"
        #expect(identity(v2) == "https://storage.googleapis.com/b/o.tar")
    }

    @Test func cloudFrontParametersAreLeftOut() {
        #expect(identity("https://d111.cloudfront.net/v/f.mp4?Expires=1764000000&Signature=a~b_&Key-Pair-Id=K2JCJMDEHXQW5F") == "https://d111.cloudfront.net/v/f.mp4")
        #expect(identity("https://d111.cloudfront.net/v/f.mp4?quality=hd&Policy=eyJTdGF0ZW1lbnQ&Signature=a~b_&Key-Pair-Id=K2J") == "https://d111.cloudfront.net/v/f.mp4?quality=hd")
    }

    @Test func azureSASParametersAreLeftOutOnlyWithTheirSignature() {
        let sas = "https://acct.blob.core.windows.net/c/disk.vhd?comp=blocklist&sv=2022-11-02&ss=b&srt=o&sp=r&se=2026-11-25T00%3A00%3A00Z&st=2026-11-24T00%3A00%3A00Z"
            + "&spr=https&sr=b&si=policy1&skoid=o&sktid=t&skt=2026&ske=2027&sks=b&skv=2022&sdd=1&sig=c2lnbmF0dXJl"
        let identity = URLIdentity(sas)
        #expect(identity.url == "https://acct.blob.core.windows.net/c/disk.vhd?comp=blocklist")
        #expect(identity.leftOutCredentials)
        // Without `sig`, the same names are the site's own parameters: kept.
        let plain = "https://example.org/api/file?sv=2&sp=r&se=1"
        #expect(URLIdentity(plain).url == plain)
        #expect(!URLIdentity(plain).leftOutCredentials)
    }

    @Test func aQueryWithNothingToLeaveOutIsKeptAsItWas() {
        for url in [
            "https://example.org/file.iso", "https://example.org/file.iso?", "https://example.org/get?id=42&format=raw",
            "https://example.org/get?a=1&&b&c=%20x", "http://127.0.0.1:8080/files/a.bin?v=2",
        ] {
            let identity = URLIdentity(url)
            #expect(identity.url == url)
            #expect(!identity.leftOutCredentials)
        }
    }

    @Test func theOrderAndSpellingOfKeptParametersStay() {
        #expect(identity("https://h/f?z=1&X-Amz-Signature=s&a=2&Signature=t&m=%41&A=3") == "https://h/f?z=1&a=2&m=%41&A=3")
        #expect(identity("https://h/f?X-Amz-Signature=s&b=2&a=1") == "https://h/f?b=2&a=1")
        #expect(identity("https://h/f?b=2&a=1&X-Amz-Signature=s") == "https://h/f?b=2&a=1")
        // The same object with its other parameters in another order is another identity:
        // the origin might treat them differently.
        #expect(identity("https://h/f?a=1&b=2&X-Amz-Signature=s") != identity("https://h/f?b=2&a=1&X-Amz-Signature=s"))
    }

    @Test func theAmzAndGoogFamiliesMatchInAnyCaseTheOthersOnlyAsSpelled() {
        #expect(identity("https://h/f?x-amz-signature=s&X-AMZ-EXPIRES=1&x-Amz-Date=d&X-GOOG-SIGNATURE=g&x-goog-credential=c&k=v") == "https://h/f?k=v")
        // Exact names elsewhere: `signature`, `expires` or `policy` are another site's own.
        #expect(identity("https://h/f?signature=s&expires=1&policy=p&key-pair-id=k&awsaccesskeyid=a&SIG=z&Sv=1") == "https://h/f?signature=s&expires=1&policy=p&key-pair-id=k&awsaccesskeyid=a&SIG=z&Sv=1")
        // Only the listed members of the families: another X-Amz- parameter is kept.
        #expect(identity("https://h/f?X-Amz-Signature=s&x-amz-request-payer=requester") == "https://h/f?x-amz-request-payer=requester")
    }

    @Test func namesAreComparedPercentDecodedAndValuesDoNotMatter() {
        #expect(identity("https://h/f?X%2DAmz%2DSignature=s&k=v") == "https://h/f?k=v")
        #expect(identity("https://h/f?k=X-Amz-Signature&X-Amz-Signature") == "https://h/f?k=X-Amz-Signature")
    }

    @Test func namesGivenToIgnoreAreLeftOutExactly() {
        #expect(identity("https://cdn.example/f?token=abc&exp=99&v=3", ignoring: ["token", "exp"]) == "https://cdn.example/f?v=3")
        #expect(identity("https://cdn.example/f?Token=abc&v=3", ignoring: ["token"]) == "https://cdn.example/f?Token=abc&v=3")
        #expect(URLIdentity("https://cdn.example/f?token=abc", ignoring: ["token"]).leftOutCredentials)
    }

    @Test func userInfoAndFragmentAreLeftOut() {
        let identity = URLIdentity("https://user:p%40ss@files.example:8443/a/b.iso?v=1#part")
        #expect(identity.url == "https://files.example:8443/a/b.iso?v=1")
        #expect(identity.leftOutCredentials, "a password is a credential")
        // A fragment is never sent: nothing that could be a credential.
        let fragment = URLIdentity("https://files.example/a.iso#X-Amz-Signature=s")
        #expect(fragment.url == "https://files.example/a.iso")
        #expect(!fragment.leftOutCredentials)
        // An "@" in the path or query is not user info.
        #expect(self.identity("https://h/u@v/f?to=a@b") == "https://h/u@v/f?to=a@b")
    }

    @Test func pieceOwnersAreKeyedByTheIdentityAndTheValidator() {
        func file(_ url: String, etag: String = "\"v1\"") -> RemoteFile {
            RemoteFile(url: url, length: 1 << 30, acceptsRanges: true, etag: etag, lastModified: nil, suggestedName: nil)
        }
        let a = Downloader.ownershipKey(of: file("https://b.s3.amazonaws.com/f?X-Amz-Date=1&X-Amz-Signature=aa"), ignoring: [])
        let b = Downloader.ownershipKey(of: file("https://b.s3.amazonaws.com/f?X-Amz-Date=2&X-Amz-Signature=bb"), ignoring: [])
        #expect(a == "https://b.s3.amazonaws.com/f \"v1\"")
        #expect(a == b)
        #expect(Downloader.ownershipKey(of: file("https://b.s3.amazonaws.com/f?X-Amz-Signature=aa", etag: "\"v2\""), ignoring: []) != a)
        #expect(Downloader.ownershipKey(of: file("https://cdn/f?t=1"), ignoring: ["t"]) == Downloader.ownershipKey(of: file("https://cdn/f?t=2"), ignoring: ["t"]))
        #expect(Downloader.ownershipKey(of: file("https://cdn/f?t=1"), ignoring: []) != Downloader.ownershipKey(of: file("https://cdn/f?t=2"), ignoring: []))
    }

    @Test func aURLThatIsOnlySignaturesLosesItsQuestionMark() {
        #expect(identity("https://h/f?X-Amz-Signature=s&X-Amz-Expires=60") == "https://h/f")
        #expect(identity("https://h/f?X-Amz-Signature=s") == identity("https://h/f"))
    }
}
