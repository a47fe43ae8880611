extension Engine {
    /// Appends `edit` to the manifest (synced), folds it into the version
    /// state, and — past `maxManifestBytes` — starts a new manifest holding a
    /// snapshot of the state, switching `CURRENT` to it and removing the old
    /// one. REQUIRES: versionLock held.
    func recordEdit(_ edit: VersionEdit) throws {
        try manifest.append(edit)
        try versionState.apply(edit, path: joinPath(directory, StoreFileNames.manifest(manifest.number)))
        guard manifest.size > Int64(options.maxManifestBytes) else { return }
        // Rewrite as a snapshot. The edit above is already durable in the old
        // manifest: a failure before CURRENT changes keeps the old one in use
        // (tried again at the next edit); a failure while CURRENT changes
        // leaves which manifest is current unknown, which is fatal.
        let old = manifest
        var state = versionState
        let number = newFileNumber()
        state.nextFileNumber = nextFileNumber.load(ordering: .relaxed)
        guard let next = try? Manifest(unpublished: directory, fileSystem: fileSystem, number: number, state: state) else { return }
        testHooks.run(.manifestBeforeCurrentSwap)
        try next.makeCurrent()
        manifest = next
        try? old.close()
        try? fileSystem.remove(joinPath(directory, StoreFileNames.manifest(old.number)))
        try? fileSystem.syncDirectory(directory)
    }
}
