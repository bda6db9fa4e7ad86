import Foundation

/// Where a PostgreSQL database is: `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=MODE]`
/// (`postgresql://` too), the form of `DATABASE_URL`.
///
/// The password never leaves this value in text: ``description`` (what logs and `check-config`
/// show) replaces it with `***`.
public struct DatabaseURL: Sendable, Hashable, CustomStringConvertible {
    /// How the connection uses TLS, as libpq's `sslmode` names it.
    public enum TLSMode: String, Sendable, Hashable, CaseIterable {
        /// Never TLS.
        case disable
        /// TLS when the server offers it, without checking its certificate (libpq's default).
        case prefer
        /// TLS always, without checking the certificate.
        case require
        /// TLS always; the certificate must be signed by a trusted authority.
        case verifyCA = "verify-ca"
        /// TLS always; the certificate must be trusted and name the host.
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode

    /// A malformed `DATABASE_URL`; the message never repeats the password.
    public struct Invalid: Error, Sendable, Hashable, CustomStringConvertible {
        /// What is wrong and what the form is.
        public var description: String
    }

    /// Parses `text`.
    /// - Throws: ``Invalid`` naming the part that is wrong.
    public init(_ text: String) throws(Invalid) {
        let form =
            "the form is postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require|verify-ca|verify-full]"
        guard let components = URLComponents(string: text), let scheme = components.scheme else {
            throw Invalid(description: "DATABASE_URL is not a URL; \(form)")
        }
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw Invalid(description: "DATABASE_URL has the scheme \"\(scheme)\", not postgres; \(form)")
        }
        guard let host = components.host, !host.isEmpty else {
            throw Invalid(description: "DATABASE_URL names no host; \(form)")
        }
        guard let user = components.user, !user.isEmpty else {
            throw Invalid(description: "DATABASE_URL names no user; \(form)")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw Invalid(description: "DATABASE_URL names no database (the path after the host); \(form)")
        }
        var tls = TLSMode.prefer
        for item in components.queryItems ?? [] {
            guard item.name == "sslmode" else {
                throw Invalid(description: "DATABASE_URL has the unknown parameter \"\(item.name)\"; \(form)")
            }
            guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                throw Invalid(description: "DATABASE_URL has sslmode=\(item.value ?? ""); \(form)")
            }
            tls = mode
        }
        self.host = host
        self.port = components.port ?? 5432
        // URLComponents' user, password and path are already percent-decoded.
        self.user = user
        self.password = components.password
        self.database = database
        self.tls = tls
    }

    /// The URL with its password, for a process that connects with it (orderd hands it to its
    /// services as `DATABASE_URL`); never for a log or a message: those take ``description``.
    public var connectionString: String {
        var components = URLComponents()
        components.scheme = "postgres"
        components.user = user
        components.password = password
        components.host = host
        components.port = port
        components.path = "/" + database
        if tls != .prefer { components.queryItems = [URLQueryItem(name: "sslmode", value: tls.rawValue)] }
        return components.string ?? description
    }

    /// The URL with its password replaced by `***`.
    public var description: String {
        let credentials = password == nil ? user : "\(user):***"
        let query = tls == .prefer ? "" : "?sslmode=\(tls.rawValue)"
        return "postgres://\(credentials)@\(host):\(port)/\(database)\(query)"
    }
}
