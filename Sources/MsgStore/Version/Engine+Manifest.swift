extension Engine {
    /// Appends `edit` to the manifest (synced), folds it into the version
    /// state, and — past `manifestBytesMax` — starts a new manifest holding a
    /// snapshot of the state, switching `CURRENT` to it and removing the old
    /// one. REQUIRES: versionLock held.
    func recordEdit(_ edit: VersionEdit) throws {
        try manifest.append(edit)
        try versionState.apply(edit, path: joinPath(directory, Manifest.fileName(manifest.number)))
        guard manifest.size > Int64(options.manifestBytesMax) else { return }
        let old = manifest
        var state = versionState
        let number = newFileNumber()
        state.nextFileNumber = nextFileNumber.load(ordering: .relaxed)
        manifest = try Manifest(directory: directory, fileSystem: fileSystem, number: number, state: state)
        try? old.close()
        try fileSystem.remove(joinPath(directory, Manifest.fileName(old.number)))
        try fileSystem.syncDirectory(directory)
    }
}
