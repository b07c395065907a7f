using Microsoft.Extensions.Logging;
using PcieVirt.Cli.Shell;
using PcieVirt.Fabric;
using PcieVirt.PciUtils;
using PcieVirt.Platform;
using PcieVirt.Platform.Model;

namespace PcieVirt.Cli;

/// <summary>
/// One live emulated platform and the commands that act on it. The same session serves a single
/// command line (<c>pcievirt lspci …</c>) and every line of a shell script, so state persists across
/// the lines of a script exactly as it would on a machine.
/// </summary>
public sealed partial class Session : IDisposable
{
    readonly TextWriter _out;
    readonly TextWriter _err;
    readonly ILoggerFactory _loggerFactory;

    Session(PcieSystem system, ILoggerFactory loggerFactory, TextWriter stdout, TextWriter stderr)
    {
        System = system;
        _loggerFactory = loggerFactory;
        _out = stdout;
        _err = stderr;
    }

    public PcieSystem System { get; }

    /// <summary>What <c>--trace-out</c> records (TLPs, NVMe commands), or null when no trace was asked for.</summary>
    public SessionTrace? Trace { get; set; }

    /// <summary>
    /// Loads the model (the embedded default when <paramref name="modelPath"/> is null), builds and boots
    /// the platform. Returns null after printing every model error when the model is invalid.
    /// </summary>
    public static Session? Open(string? modelPath, ILoggerFactory loggerFactory, TextWriter stdout, TextWriter stderr)
    {
        var log = loggerFactory.CreateLogger("PcieVirt.Platform.Model");
        PlatformModelResult result;
        if (modelPath is null)
            result = PlatformModel.Parse(PlatformModel.ReadDefaultJson(), "default.json (embedded)", log);
        else if (!File.Exists(modelPath))
        {
            stderr.WriteLine(Directory.Exists(modelPath)
                ? $"pcievirt: '{modelPath}' is a directory, not a model file"
                : $"pcievirt: model file '{modelPath}' not found");
            return null;
        }
        else
            result = PlatformModel.Load(modelPath, log);

        if (!result.Success || result.Model is null)
        {
            stderr.WriteLine($"pcievirt: the model has {result.Errors.Count} error(s):");
            foreach (var e in result.Errors) stderr.WriteLine($"  {e}");
            return null;
        }
        try
        {
            var system = PcieSystem.Boot(result.Model, loggerFactory);
            return new Session(system, loggerFactory, stdout, stderr);
        }
        catch (PlatformBuildException e)
        {
            stderr.WriteLine($"pcievirt: cannot build the platform: {e.Message}");
            return null;
        }
    }

    /// <summary>Runs one command given as words; returns its exit code.</summary>
    public int Execute(IReadOnlyList<string> words)
    {
        if (words.Count == 0) return 0;
        if (Trace is { } trace)
        {
            // Each command as a span on a "commands" track, so the TLPs and I/Os it caused sit under it.
            ulong start = trace.Clock();
            int status = ExecuteUntraced(words);
            ulong end = trace.Clock();
            trace.Events.Complete(start, end - start, "commands", words[0], "shell", $"{string.Join(' ', words)} (exit {status})");
            return status;
        }
        return ExecuteUntraced(words);
    }

    int ExecuteUntraced(IReadOnlyList<string> words)
    {
        string[] rest = [.. words.Skip(1)];
        try
        {
            return words[0] switch
            {
                "lspci" => WithHost(rest, "lspci", (r, a) => Lspci.Run(r, a, _out, _err)),
                "setpci" => WithHost(rest, "setpci", (r, a) => Setpci.Run(r, a, _out, _err)),
                "mrpcim" => MrPcim(rest),
                "enumerate" => Enumerate(),
                "sriov" => Sriov(rest),
                "explain" => Explain(rest),
                "raid" => Raid(rest),
                "io" => Io(rest),
                "advance" => Advance(rest),
                "echo" => Echo(rest),
                "help" => Help(),
                _ => Unknown(words[0]),
            };
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or IOException)
        {
            // A command must never take the emulator down; report and carry on.
            _err.WriteLine($"{words[0]}: {e.Message}");
            return 1;
        }
        catch (Exception e)
        {
            // Anything else is a bug in the emulator; the session (and a script's later lines) survive it.
            _err.WriteLine($"{words[0]}: internal error ({e.GetType().Name}): {e.Message}");
            return 70; // EX_SOFTWARE
        }
    }

    /// <summary>
    /// Runs a script: one command per line, <c>#</c> comments, blank lines ignored. Stops at the first
    /// failing line unless <paramref name="keepGoing"/>. Returns the exit code of the last command run.
    /// </summary>
    public int RunScript(TextReader script, string sourceName, bool keepGoing = false)
    {
        int status = 0, lineNo = 0;
        for (string? line; (line = script.ReadLine()) != null;)
        {
            lineNo++;
            var (words, error) = ShellLexer.Split(line);
            if (error != null)
            {
                _err.WriteLine($"{sourceName}:{lineNo}: {error}");
                status = 2;
                if (!keepGoing) return status;
                continue;
            }
            if (words.Count == 0) continue;
            status = Execute(words);
            if (status != 0)
            {
                _err.WriteLine($"{sourceName}:{lineNo}: '{words[0]}' exited with status {status}");
                if (!keepGoing) return status;
            }
        }
        return status;
    }

    int Enumerate()
    {
        foreach (var h in System.Hosts)
        {
            var r = h.Enumerate();
            _out.WriteLine($"{h.Name}: {r.Functions.Count} functions, buses {h.RootComplex.StartBus:x2}..{r.LastBus:x2}, {r.Failures.Count} failures");
            foreach (var f in r.Failures) _out.WriteLine($"  failure: {f}");
        }
        return 0;
    }

    int Echo(string[] words)
    {
        _out.WriteLine(string.Join(' ', words));
        return 0;
    }

    int Help()
    {
        _out.WriteLine("""
            Commands (one per line; '#' starts a comment):
              lspci [-t] [-v|-vv|-vvv] [-x|-xxx|-xxxx] [-s [[bus]:][dev][.fn]] [-n|-nn] [-D] [-k]
              setpci [-v] -s BDF REG[+OFF][.B|.W|.L][=VALUE[:MASK]]...
              lspci|setpci … --host N|NAME|mgmt   one host's view (a multi-root model: mgmt = the manager's VH0)
              mrpcim list|counters|move PF --to-host N|bind VCS VPPB PORT LD|unbind VCS VPPB
                                 multi-root manager: VHs, PF moves (hot-plug in both hosts), CXL-style bind/unbind
              enumerate          run firmware enumeration again
              sriov [BDF [numvfs=N]]  show a PF's SR-IOV sysfs attributes, or enable N VFs (0 disables) as Linux does
              explain BDF [REGISTER|CAPABILITY]  every field of a register or capability: value, access, meaning, spec section
              raid [BDF …]       RAID controller: drives, volumes, snapshots, attach to VFs, fail/rebuild, VF online/offline ('raid help')
              advance DURATION   let virtual time pass (e.g. 100ms, 1s, 250us)
              echo TEXT          print TEXT
              io --function BDF …  fio-like workload through the reference NVMe driver (--rw --bs --iodepth --ops --verify --seed --json)
              help               this text
            """);
        return 0;
    }

    int Unknown(string command)
    {
        _err.WriteLine($"unknown command '{command}' (try 'help')");
        return 127;
    }

    public void Dispose() => _loggerFactory.Dispose();
}
