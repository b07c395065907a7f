using Microsoft.Extensions.Logging.Abstractions;
using PcieVirt.Cli;
using PcieVirt.Fabric;

namespace PcieVirt.Tests.Cli.Sriov;

/// <summary>A shell session on the default platform, its output captured, and the real pciutils lspci.</summary>
sealed class SriovSession : IDisposable
{
    public SriovSession(string? modelPath = null)
    {
        Session = Session.Open(modelPath, NullLoggerFactory.Instance, Out, Err)
            ?? throw new InvalidOperationException($"session did not open: {Err}");
    }

    public Session Session { get; }
    public StringWriter Out { get; } = new();
    public StringWriter Err { get; } = new();

    /// <summary>Runs one shell line; returns its exit code and what it printed (stdout), clearing the capture.</summary>
    public (int Status, string Stdout, string Stderr) Run(string line)
    {
        Out.GetStringBuilder().Clear();
        Err.GetStringBuilder().Clear();
        int status = Session.RunScript(new StringReader(line), "<test>", keepGoing: true);
        return (status, Out.ToString(), Err.ToString());
    }

    public string Ok(string line)
    {
        var (status, stdout, stderr) = Run(line);
        Assert.That(status, Is.Zero, $"'{line}' failed: {stderr}");
        return stdout;
    }

    public IConfigAccessor Host => Session.System.Hosts[0];

    public void Dispose() => Session.Dispose();
}

/// <summary>A host's config space without what the OS knows (no Describe): what lspci -F sees in a dump.</summary>
sealed class ConfigOnly(IConfigAccessor inner) : IConfigAccessor
{
    public string Name => inner.Name;
    public IReadOnlyList<PciAddress> Functions() => inner.Functions();
    public CompletionStatus Read(PciAddress address, int offset, int width, out uint value) => inner.Read(address, offset, width, out value);
    public CompletionStatus Write(PciAddress address, int offset, int width, uint value) => inner.Write(address, offset, width, value);
}
