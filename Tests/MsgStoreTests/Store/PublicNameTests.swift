import Dispatch
import Foundation
import MsgStore
import Testing

/// A program that imports Foundation and MsgStore must be able to name every
/// public type of the library without qualifying it. This file compiles only
/// if no name is ambiguous (`FileHandle` once was); the test then checks that
/// each name resolves to the library's type, not Foundation's.
@Suite struct PublicNameTests {
    @Test func everyPublicTypeNameIsUnambiguousBesideFoundation() {
        let names: [Any.Type] = [
            CommitReceipt.self, DeadLetterInfo.self, DirectoryInspection.self, DurableQueue.self,
            (any FileLock).self, (any FileSystem).self, HexKeyRenderer.self, IndexReference.self, IndexSchema.self,
            (any KeyRenderer).self,
            LogInspection.self, ManifestInspection.self, OpenMode.self, PosixFileSystem.self,
            QueueInspection.self, QueueMessage.self, QueueOptions.self, QueueRecoveryReport.self,
            QueueStats.self, QueueVerification.self, Row.self, RowKey.self, SSTableInspection.self,
            SSTableProperties.self, ScanStart.self, (any StorageFile).self, Store.self, StoreError.self,
            StoreOptions.self, StoreStatistics.self, StoreVerifier.self, SyncMode.self, Table.self,
            TableSchema.self, VerificationReport.self, WriteBatch.self,
        ]
        for type in names {
            #expect(String(reflecting: type).contains("MsgStore."), "\(type) resolved outside MsgStore")
        }
    }
}
