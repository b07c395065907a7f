using Microsoft.Extensions.Logging;
using PcieVirt.Fabric;

namespace PcieVirt.Cli;

/// <summary>The <c>pcievirt</c> command line.</summary>
public static class Program
{
    public static int Main(string[] args) => Run(args, Console.In, Console.Out, Console.Error);

    /// <summary>Runs a command with explicit streams (tests call this directly).</summary>
    public static int Run(string[] args, TextReader stdin, TextWriter stdout, TextWriter stderr)
    {
        var (parsed, error) = CliArgs.Parse(args);
        if (parsed is null)
        {
            stderr.WriteLine($"pcievirt: {error}");
            return 2;
        }
        if (parsed.Rest.Count == 0 || parsed.Rest[0] is "help" or "--help" or "-h")
        {
            stdout.WriteLine(Usage);
            return parsed.Rest.Count == 0 ? 2 : 0;
        }
        if (!TryLogLevel(parsed.LogLevel, out var level))
        {
            stderr.WriteLine($"pcievirt: unknown log level '{parsed.LogLevel}' (trace, debug, information, warning, error, none)");
            return 2;
        }

        string command = parsed.Rest[0];
        string[] rest = [.. parsed.Rest.Skip(1)];
        if (command is not ("lspci" or "setpci" or "shell" or "demo" or "io" or "bench" or "explain" or "fuzz" or "failover" or "mrio"))
        {
            stderr.WriteLine($"pcievirt: unknown command '{command}'\n{Usage}");
            return 2;
        }

        // io and shell: --trace-out FILE.json records the session's TLPs and NVMe commands (bench paths
        // parses its own, which records the paths' timelines instead).
        string? traceOut = null;
        if (command is "io" or "shell")
        {
            int at = Array.IndexOf(rest, "--trace-out");
            if (at >= 0)
            {
                if (at + 1 >= rest.Length || rest[at + 1].StartsWith("--", StringComparison.Ordinal))
                {
                    stderr.WriteLine($"pcievirt {command}: --trace-out needs a file name (FILE.json)");
                    return 2;
                }
                traceOut = rest[at + 1];
                rest = [.. rest.Take(at), .. rest.Skip(at + 2)];
                if (Array.IndexOf(rest, "--trace-out") >= 0)
                {
                    stderr.WriteLine($"pcievirt {command}: --trace-out given twice");
                    return 2;
                }
            }
        }

        IoArguments? io = null;
        if (command == "io")
        {
            // Arguments are checked before the platform is built, so a typo gets a message at once.
            (io, string? ioError) = IoArguments.Parse(rest);
            if (io is null)
            {
                stderr.WriteLine($"pcievirt io: {ioError}\n{IoArguments.Usage}");
                return 2;
            }
        }

        BenchArguments? bench = null;
        if (command == "bench")
        {
            (bench, string? benchError) = BenchArguments.Parse(rest);
            if (bench is null)
            {
                stderr.WriteLine($"pcievirt bench: {benchError}\n{BenchArguments.Usage}");
                return 2;
            }
        }

        FuzzArguments? fuzz = null;
        if (command == "fuzz")
        {
            (fuzz, string? fuzzError) = FuzzArguments.Parse(rest);
            if (fuzz is null)
            {
                stderr.WriteLine($"pcievirt fuzz: {fuzzError}\n{FuzzArguments.Usage}");
                return 2;
            }
        }

        FailoverArguments? failover = null;
        string? modelPath = parsed.ModelPath;
        if (command == "failover")
        {
            (failover, string? failoverError) = FailoverArguments.Parse(rest);
            if (failover is null)
            {
                stderr.WriteLine($"pcievirt failover: {failoverError}\n{FailoverArguments.Usage}");
                return 2;
            }
            modelPath ??= FailoverArguments.FindDefaultModel();
            if (modelPath is null)
            {
                stderr.WriteLine($"pcievirt failover: {FailoverArguments.DefaultModel} not found; give --model FILE");
                return 2;
            }
        }

        MrIoArguments? mrio = null;
        if (command == "mrio")
        {
            (mrio, string? mrioError) = MrIoArguments.Parse(rest);
            if (mrio is null)
            {
                stderr.WriteLine($"pcievirt mrio: {mrioError}\n{MrIoArguments.Usage}");
                return 2;
            }
        }

        var trace = traceOut is null ? null : new SessionTrace();
        var loggerFactory = LoggerFactory.Create(b =>
        {
            b.ClearProviders();
            b.AddProvider(new TextWriterLoggerProvider(stderr));
            b.SetMinimumLevel(level);
            // --trace: every config / memory TLP the fabric carries, at Trace level.
            b.AddFilter<TextWriterLoggerProvider>(RootComplex.TlpLogCategory, parsed.Trace ? LogLevel.Trace : level);
            if (trace != null)
            {
                // --trace-out: the same TLPs into the trace file, whatever stderr shows.
                b.AddProvider(trace);
                b.AddFilter<SessionTrace>(RootComplex.TlpLogCategory, LogLevel.Trace);
            }
        });
        using var session = Session.Open(modelPath, loggerFactory, stdout, stderr);
        if (session is null) return 1;
        if (trace != null)
        {
            // The trace starts after boot (firmware enumeration is not what was asked about), on the
            // virtual clock of the host the command acts on (io: its function's segment; shell: the first host).
            var host = session.System.Hosts.FirstOrDefault(h => io is null || h.RootComplex.Segment == io.Function.Segment) ?? session.System.Hosts[0];
            var clock = host.RootComplex.Clock;
            trace.Clock = () => clock.Now;
            trace.Events.Clear();
            session.Trace = trace;
        }

        int status = command switch
        {
            "demo" => Demo.Run(session, stdout),
            "bench" => BenchCommand.Run(session.System.Model, bench!, stdout, stderr),
            "fuzz" => FuzzCommand.Run(session.System.Model, fuzz!, stdout, stderr, loggerFactory),
            "failover" => FailoverCommand.Run(session.System.Model, failover!, stdout, stderr),
            "io" => session.Execute([command, .. rest]),
            "mrio" => MrIoCommand.Execute(session.System, mrio!, stdout, stderr, loggerFactory),
            "shell" => RunShell(session, rest, stdin, stderr),
            _ => session.Execute([command, .. rest]),
        };
        if (trace != null && traceOut != null)
        {
            try
            {
                using var f = File.Create(traceOut);
                trace.Write(f, command == "io" ? $"pcievirt io {io!.Function}" : "pcievirt shell");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"pcievirt {command}: cannot write the trace to '{traceOut}': {e.Message}");
                return status == 0 ? 1 : status;
            }
        }
        return status;
    }

    static int RunShell(Session session, string[] rest, TextReader stdin, TextWriter stderr)
    {
        if (rest.Length > 1)
        {
            stderr.WriteLine("pcievirt shell: at most one script file");
            return 2;
        }
        if (rest.Length == 0 || rest[0] == "-") return session.RunScript(stdin, "<stdin>");
        if (!File.Exists(rest[0]))
        {
            stderr.WriteLine($"pcievirt shell: script '{rest[0]}' not found");
            return 1;
        }
        using var reader = File.OpenText(rest[0]);
        return session.RunScript(reader, rest[0]);
    }

    static bool TryLogLevel(string? text, out LogLevel level)
    {
        level = LogLevel.Warning;
        if (text is null) return true;
        return Enum.TryParse(text, ignoreCase: true, out level) && Enum.IsDefined(level);
    }

    public const string Usage = """
        usage: pcievirt COMMAND [--model FILE] [--trace] [--log-level LEVEL] [ARGS...]

        Commands:
          demo                      build the default platform, enumerate it, show what firmware and lspci see
          lspci [lspci options]     list functions as pciutils' lspci does (-t -v -vv -vvv -x -xxx -xxxx -s -n -nn -D -k)
          setpci [setpci options]   read and write config registers as pciutils' setpci does
          explain BDF [REGISTER|CAPABILITY]
                                    every field of a register (COMMAND, DEVCTL, 0x44…) or capability (msix, exp, aer,
                                    sriov…): value, access type, meaning, PCIe Base Spec section; a VF's placement
          shell [SCRIPT|-] [--trace-out FILE.json]
                                    run lspci/setpci/... lines against one live platform (stdin when no SCRIPT)
          io --function BDF [--rw {read,write,randread,randwrite,randrw}] [--bs SIZE] [--iodepth N] [--ops N]
             [--verify] [--seed S] [--json] [--trace-out FILE.json]
                                    fio-like workload through the reference NVMe driver; IOPS, bandwidth and
                                    latency percentiles in virtual time
          mrio [--weights W0:W1] [--policy wrr|strict] [--ops N] [--bs SIZE] [--iodepth N] [--link GENxWIDTH] [--json]
                                    multi-root model: every host saturates its own PF of the shared controller at
                                    once; isolation probes, per-host IOPS/bandwidth/latency, each VH's share of the
                                    MR link under VL arbitration, then one host alone (work conserving), VL counters
          bench paths [--rw …] [--bs SIZE] [--iodepth N] [--ops N] [--seed S] [--paths LIST] [--json]
             [--trace-out FILE.json] [--plot FILE.png|FILE.svg]
                                    the same workload through bare metal, an assigned VF, the paravirtual
                                    ring and the emulated controller, side by side (latency, IOPS, exits,
                                    host CPU per I/O, latency breakdown)
          fuzz --iterations N --seed S [--vfs N] [--timed] [--stop-on-violation] [--json]
                                    seeded fuzzing of the RAID controller PF and its VFs behind an IOMMU (config,
                                    MMIO, doorbells, MSI-X, malformed queue entries, PRP lists, FLR, VF enable)
                                    with invariants checked after every step; prints violations and a replay line
          failover --ops N --seed S [--iodepth N] [--json] [--trace-out FILE.json]
                                    MR-IOV failover (default model devicemodels/mriov-2host.json): host A fails
                                    mid-I/O, MR-PCIM moves its PF to host B, whose replacement guest reads every
                                    unit back; written, acknowledged, lost (must be 0), failover time

        Options:
          --model FILE              platform model (JSON, see devicemodels/README.md); default: the embedded default.json
          --trace                   log every TLP (config requests with requester, target, offset, width, data, status) to stderr
          --log-level LEVEL         trace, debug, information, warning (default), error, none
          --trace-out FILE.json     (io, shell, bench paths) a Chrome trace-event file: open it in ui.perfetto.dev
        """;
}
