namespace PcieVirt.Cli;

public sealed partial class Session
{
    /// <summary><c>io --function BDF …</c>: the fio-like workload through the reference NVMe driver.</summary>
    int Io(string[] args)
    {
        var (io, error) = IoArguments.Parse(args);
        if (io is null)
        {
            _err.WriteLine($"io: {error}\n{IoArguments.Usage}");
            return 2;
        }
        var host = System.Hosts.FirstOrDefault(h => h.RootComplex.Segment == io.Function.Segment);
        if (host is null)
        {
            _err.WriteLine($"io: no host has PCI segment {io.Function.Segment:x4}");
            return 1;
        }
        return IoCommand.Run(host, io, _out, _err, Trace);
    }
}
