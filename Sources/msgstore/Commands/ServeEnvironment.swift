import ArgumentParser

/// `serve`'s options from the environment, for containers and systemd: every
/// option `--some-name` can be given as `MSGSTORE_SOME_NAME` (a flag as
/// `MSGSTORE_SOME_FLAG=1|true|yes|on`, or `0|false|no|off` to leave it off).
/// The command line wins over the environment.
///
/// The option names are read off ``ServeCommand`` itself (its `@Option` and
/// `@Flag` properties, named the way ArgumentParser names them: camelCase to
/// kebab-case), so a new option is settable from the environment without a
/// table to keep in step.
enum ServeEnvironment {
    /// The prefix of every variable.
    static let prefix = "MSGSTORE_"

    /// One option of `serve` as the environment sees it.
    struct Setting: Equatable {
        /// `max-page-bytes`.
        var name: String
        /// `MSGSTORE_MAX_PAGE_BYTES`.
        var variable: String
        /// A flag takes no value on the command line.
        var isFlag: Bool
    }

    /// Every option and flag of ``ServeCommand``, in declaration order.
    static let settings: [Setting] = {
        Mirror(reflecting: ServeCommand()).children.compactMap { child in
            guard let label = child.label, label.hasPrefix("_") else { return nil }
            let type = String(describing: type(of: child.value))
            let isFlag = type.hasPrefix("Flag<")
            guard isFlag || type.hasPrefix("Option<") else { return nil }
            let name = kebabCase(String(label.dropFirst()))
            return Setting(name: name, variable: prefix + name.uppercased().replacingOccurrences(of: "-", with: "_"), isFlag: isFlag)
        }
    }()

    /// `maxPageBytes` → `max-page-bytes` (ArgumentParser's `.long` naming).
    static func kebabCase(_ name: String) -> String {
        var result = ""
        for character in name {
            if character.isUppercase {
                if !result.isEmpty { result.append("-") }
                result.append(contentsOf: character.lowercased())
            } else {
                result.append(character)
            }
        }
        return result
    }

    /// Where the value of an option came from.
    enum Source: String {
        case commandLine = "command line"
        case environment
        case defaultValue = "default"
    }

    /// The result of ``expand(_:environment:)``.
    struct Expansion {
        /// The arguments to parse: `serve`, the options taken from the
        /// environment, then the command line's own.
        var arguments: [String]
        /// Where each option's value comes from, by option name.
        var sources: [String: Source]
        /// Variables that are not options of `serve` (likely a typo), or flags with an unreadable value.
        var problems: [String]
    }

    /// Inserts `--name value` for every `MSGSTORE_*` variable whose option the
    /// command line does not give. `arguments` excludes the program name;
    /// anything but `serve ...` is returned unchanged.
    static func expand(_ arguments: [String], environment: [String: String]) -> Expansion {
        guard arguments.first == "serve" else { return Expansion(arguments: arguments, sources: [:], problems: []) }
        var given: Set<String> = []
        for argument in arguments.dropFirst() where argument.hasPrefix("--") {
            given.insert(String(argument.dropFirst(2).split(separator: "=", maxSplits: 1).first ?? ""))
        }
        var added: [String] = []
        var sources: [String: Source] = [:]
        var problems: [String] = []
        for setting in settings {
            if given.contains(setting.name) {
                sources[setting.name] = .commandLine
                continue
            }
            guard let value = environment[setting.variable] else {
                sources[setting.name] = .defaultValue
                continue
            }
            if setting.isFlag {
                switch value.lowercased() {
                case "1", "true", "yes", "on": added.append("--\(setting.name)")
                case "0", "false", "no", "off", "": break
                default: problems.append("\(setting.variable)=\(value) is not a flag value (1/true/yes/on or 0/false/no/off)")
                }
            } else {
                added += ["--\(setting.name)", value]
            }
            sources[setting.name] = .environment
        }
        let known = Set(settings.map(\.variable) + settings.map { prefix + "NO_" + $0.variable.dropFirst(prefix.count) })
        for variable in environment.keys.sorted() where variable.hasPrefix(prefix) && !known.contains(variable)
            && !otherVariables.contains(variable) {
            problems.append("\(variable) is not an option of serve (ignored)")
        }
        return Expansion(arguments: ["serve"] + added + arguments.dropFirst(), sources: sources, problems: problems)
    }

    /// `MSGSTORE_*` variables with other meanings than a `serve` option.
    static let otherVariables: Set<String> = ["MSGSTORE_BINARY", "MSGSTORE_SEED", "MSGSTORE_CRASH_POINT"]

    /// A value as the start-up log may show it: a password in a URL and any
    /// option named like a secret are redacted.
    static func redacted(name: String, value: String) -> String {
        let lowered = name.lowercased()
        if ["password", "secret", "token"].contains(where: lowered.contains) { return "<redacted>" }
        // scheme://user:password@host → scheme://user:<redacted>@host
        if let schemeEnd = value.range(of: "://"), let at = value[schemeEnd.upperBound...].firstIndex(of: "@") {
            let credentials = value[schemeEnd.upperBound..<at]
            if let colon = credentials.firstIndex(of: ":") {
                return String(value[..<value.index(after: colon)]) + "<redacted>" + String(value[at...])
            }
        }
        return value
    }
}
