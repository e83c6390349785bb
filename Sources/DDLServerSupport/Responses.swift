import DDLCore
import Foundation
import Hummingbird
import NIOFoundationCompat

/// A JSON problem response.
public func problem(_ status: HTTPResponse.Status, type: String, _ detail: String, originStatus: Int? = nil) -> Response {
    let body = Problem(type: type, detail: detail, status: status.code, originStatus: originStatus)
    return (try? jsonResponse(body, status: status)) ?? Response(status: status)
}

/// A JSON response.
public func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status) throws -> Response {
    let data = try JSONEncoder().encode(value)
    var headers = HTTPFields()
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(data: data)))
}
