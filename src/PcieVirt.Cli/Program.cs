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
        if (command is not ("lspci" or "setpci" or "shell" or "demo" or "io" or "bench" or "fuzz"))
        {
            stderr.WriteLine($"pcievirt: unknown command '{command}'\n{Usage}");
            return 2;
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

        var loggerFactory = LoggerFactory.Create(b =>
        {
            b.ClearProviders();
            b.AddProvider(new TextWriterLoggerProvider(stderr));
            b.SetMinimumLevel(level);
            // --trace: every config / memory TLP the fabric carries, at Trace level.
            b.AddFilter(RootComplex.TlpLogCategory, parsed.Trace ? LogLevel.Trace : level);
        });
        using var session = Session.Open(parsed.ModelPath, loggerFactory, stdout, stderr);
        if (session is null) return 1;

        return command switch
        {
            "demo" => Demo.Run(session, stdout),
            "bench" => BenchCommand.Run(session.System.Model, bench!, stdout, stderr),
            "fuzz" => FuzzCommand.Run(session.System.Model, fuzz!, stdout, stderr, loggerFactory),
            "io" => session.Execute([command, .. rest]),
            "shell" => RunShell(session, rest, stdin, stderr),
            _ => session.Execute([command, .. rest]),
        };
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
          shell [SCRIPT|-]          run lspci/setpci/... lines against one live platform (stdin when no SCRIPT)
          io --function BDF [--rw {read,write,randread,randwrite,randrw}] [--bs SIZE] [--iodepth N] [--ops N]
             [--verify] [--seed S] [--json]
                                    fio-like workload through the reference NVMe driver; IOPS, bandwidth and
                                    latency percentiles in virtual time
          bench paths [--rw …] [--bs SIZE] [--iodepth N] [--ops N] [--seed S] [--paths LIST] [--json]
                                    the same workload through bare metal, an assigned VF, the paravirtual
                                    ring and the emulated controller, side by side (latency, IOPS, exits,
                                    host CPU per I/O, latency breakdown)
          fuzz --iterations N --seed S [--vfs N] [--timed] [--stop-on-violation] [--json]
                                    seeded fuzzing of the RAID controller PF and its VFs behind an IOMMU (config,
                                    MMIO, doorbells, MSI-X, malformed queue entries, PRP lists, FLR, VF enable)
                                    with invariants checked after every step; prints violations and a replay line

        Options:
          --model FILE              platform model (JSON, see devicemodels/README.md); default: the embedded default.json
          --trace                   log every TLP (config requests with requester, target, offset, width, data, status) to stderr
          --log-level LEVEL         trace, debug, information, warning (default), error, none
        """;
}
