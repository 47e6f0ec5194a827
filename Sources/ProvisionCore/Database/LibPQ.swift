import CLibPQ
#if canImport(Glibc)
import Glibc
#endif

/// libpq, loaded when provision first needs a database (the first connection, or reading
/// a connection string), never at start: libpq brings some twenty libraries (OpenSSL,
/// Kerberos, LDAP, GnuTLS…) whose loading was most of the start of a command that needs
/// no database (an offline dry run, help, completion). The module CLibPQ gives the
/// types and constants; the functions come from the library, by name. A missing or too
/// old libpq is an error naming it, not a process that cannot start.
enum LibPQ {
    /// The library's soname: Debian's libpq5 (PostgreSQL 14 or later, for pipeline mode).
    static let soname = "libpq.so.5"

    struct Functions: @unchecked Sendable {
        typealias Connection = OpaquePointer
        typealias Result = OpaquePointer
        typealias Text = UnsafePointer<CChar>
        typealias Texts = UnsafePointer<UnsafePointer<CChar>?>

        let PQconnectdbParams: @convention(c) (Texts?, Texts?, Int32) -> Connection?
        let PQconnectStartParams: @convention(c) (Texts?, Texts?, Int32) -> Connection?
        let PQconnectPoll: @convention(c) (Connection?) -> PostgresPollingStatusType
        let PQfinish: @convention(c) (Connection?) -> Void
        let PQconninfoParse: @convention(c) (Text?, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> UnsafeMutablePointer<PQconninfoOption>?
        let PQconninfoFree: @convention(c) (UnsafeMutablePointer<PQconninfoOption>?) -> Void
        let PQfreemem: @convention(c) (UnsafeMutableRawPointer?) -> Void
        let PQgetCancel: @convention(c) (Connection?) -> OpaquePointer?
        let PQfreeCancel: @convention(c) (OpaquePointer?) -> Void
        let PQcancel: @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>?, Int32) -> Int32
        let PQdb: @convention(c) (Connection?) -> UnsafeMutablePointer<CChar>?
        let PQuser: @convention(c) (Connection?) -> UnsafeMutablePointer<CChar>?
        let PQhost: @convention(c) (Connection?) -> UnsafeMutablePointer<CChar>?
        let PQport: @convention(c) (Connection?) -> UnsafeMutablePointer<CChar>?
        let PQstatus: @convention(c) (Connection?) -> ConnStatusType
        let PQtransactionStatus: @convention(c) (Connection?) -> PGTransactionStatusType
        let PQerrorMessage: @convention(c) (Connection?) -> UnsafeMutablePointer<CChar>?
        let PQsocket: @convention(c) (Connection?) -> Int32
        let PQsetNoticeReceiver: @convention(c) (Connection?, PQnoticeReceiver?, UnsafeMutableRawPointer?) -> PQnoticeReceiver?
        let PQexec: @convention(c) (Connection?, Text?) -> Result?
        let PQexecParams: @convention(c) (Connection?, Text?, Int32, UnsafePointer<Oid>?, Texts?, UnsafePointer<Int32>?, UnsafePointer<Int32>?, Int32) -> Result?
        let PQsendQuery: @convention(c) (Connection?, Text?) -> Int32
        let PQsendQueryParams: @convention(c) (Connection?, Text?, Int32, UnsafePointer<Oid>?, Texts?, UnsafePointer<Int32>?, UnsafePointer<Int32>?, Int32) -> Int32
        let PQsendPrepare: @convention(c) (Connection?, Text?, Text?, Int32, UnsafePointer<Oid>?) -> Int32
        let PQsendQueryPrepared: @convention(c) (Connection?, Text?, Int32, Texts?, UnsafePointer<Int32>?, UnsafePointer<Int32>?, Int32) -> Int32
        let PQsendDescribePortal: @convention(c) (Connection?, Text?) -> Int32
        let PQsetSingleRowMode: @convention(c) (Connection?) -> Int32
        let PQgetResult: @convention(c) (Connection?) -> Result?
        let PQisBusy: @convention(c) (Connection?) -> Int32
        let PQconsumeInput: @convention(c) (Connection?) -> Int32
        let PQenterPipelineMode: @convention(c) (Connection?) -> Int32
        let PQexitPipelineMode: @convention(c) (Connection?) -> Int32
        let PQpipelineSync: @convention(c) (Connection?) -> Int32
        let PQresultStatus: @convention(c) (Result?) -> ExecStatusType
        let PQresultErrorField: @convention(c) (Result?, Int32) -> UnsafeMutablePointer<CChar>?
        let PQntuples: @convention(c) (Result?) -> Int32
        let PQnfields: @convention(c) (Result?) -> Int32
        let PQfname: @convention(c) (Result?, Int32) -> UnsafeMutablePointer<CChar>?
        let PQftype: @convention(c) (Result?, Int32) -> Oid
        let PQcmdTuples: @convention(c) (Result?) -> UnsafeMutablePointer<CChar>?
        let PQgetvalue: @convention(c) (Result?, Int32, Int32) -> UnsafeMutablePointer<CChar>?
        let PQgetlength: @convention(c) (Result?, Int32, Int32) -> Int32
        let PQgetisnull: @convention(c) (Result?, Int32, Int32) -> Int32
        let PQclear: @convention(c) (Result?) -> Void

        fileprivate init(_ library: UnsafeMutableRawPointer) throws(LoadFailure) {
            func load<T>(_ name: String) throws(LoadFailure) -> T {
                guard let symbol = dlsym(library, name) else { throw .missing(name) }
                return unsafeBitCast(symbol, to: T.self)
            }
            PQconnectdbParams = try load("PQconnectdbParams")
            PQconnectStartParams = try load("PQconnectStartParams")
            PQconnectPoll = try load("PQconnectPoll")
            PQfinish = try load("PQfinish")
            PQconninfoParse = try load("PQconninfoParse")
            PQconninfoFree = try load("PQconninfoFree")
            PQfreemem = try load("PQfreemem")
            PQgetCancel = try load("PQgetCancel")
            PQfreeCancel = try load("PQfreeCancel")
            PQcancel = try load("PQcancel")
            PQdb = try load("PQdb")
            PQuser = try load("PQuser")
            PQhost = try load("PQhost")
            PQport = try load("PQport")
            PQstatus = try load("PQstatus")
            PQtransactionStatus = try load("PQtransactionStatus")
            PQerrorMessage = try load("PQerrorMessage")
            PQsocket = try load("PQsocket")
            PQsetNoticeReceiver = try load("PQsetNoticeReceiver")
            PQexec = try load("PQexec")
            PQexecParams = try load("PQexecParams")
            PQsendQuery = try load("PQsendQuery")
            PQsendQueryParams = try load("PQsendQueryParams")
            PQsendPrepare = try load("PQsendPrepare")
            PQsendQueryPrepared = try load("PQsendQueryPrepared")
            PQsendDescribePortal = try load("PQsendDescribePortal")
            PQsetSingleRowMode = try load("PQsetSingleRowMode")
            PQgetResult = try load("PQgetResult")
            PQisBusy = try load("PQisBusy")
            PQconsumeInput = try load("PQconsumeInput")
            PQenterPipelineMode = try load("PQenterPipelineMode")
            PQexitPipelineMode = try load("PQexitPipelineMode")
            PQpipelineSync = try load("PQpipelineSync")
            PQresultStatus = try load("PQresultStatus")
            PQresultErrorField = try load("PQresultErrorField")
            PQntuples = try load("PQntuples")
            PQnfields = try load("PQnfields")
            PQfname = try load("PQfname")
            PQftype = try load("PQftype")
            PQcmdTuples = try load("PQcmdTuples")
            PQgetvalue = try load("PQgetvalue")
            PQgetlength = try load("PQgetlength")
            PQgetisnull = try load("PQgetisnull")
            PQclear = try load("PQclear")
        }
    }

    enum LoadFailure: Error {
        case missing(String)
    }

    /// Loaded once, on first use; the failure, worded for the operator, when it cannot be.
    static let functions: Swift.Result<Functions, ProvisionError> = {
        guard let library = dlopen(soname, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "not found"
            return .failure(ProvisionError(.databaseUnavailable, "cannot load libpq, PostgreSQL's client library, to reach the database (\(reason)): install it (Debian: apt-get install libpq5)"))
        }
        do throws(LoadFailure) {
            let functions = try Functions(library)
            StatementCancellation.cancelFunction = functions.PQcancel
            return .success(functions)
        } catch {
            switch error {
            case .missing(let name):
                return .failure(ProvisionError(.databaseUnavailable, "the libpq this system has is too old: it has no \(name); provision needs libpq 14 or later (Debian: apt-get install libpq5)"))
            }
        }
    }()

    /// The functions, or the reason they cannot be had.
    static func load() throws(ProvisionError) -> Functions {
        try functions.get()
    }
}

extension String {
    /// Text libpq returned (NULL: none).
    init(libpq text: UnsafeMutablePointer<CChar>?) {
        self = text.map { String(cString: $0) } ?? ""
    }
}
