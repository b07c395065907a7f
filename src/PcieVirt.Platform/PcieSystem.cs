using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PcieVirt.Fabric;
using PcieVirt.Platform.Building;
using PcieVirt.Platform.Model;

namespace PcieVirt.Platform;

/// <summary>
/// A running platform built from a model: one <see cref="HostSystem"/> per host (root complex),
/// each enumerated by its firmware model on <see cref="Boot()"/>.
/// </summary>
public sealed class PcieSystem
{
    PcieSystem(PlatformModel model, IReadOnlyList<HostSystem> hosts)
    {
        Model = model;
        Hosts = hosts;
    }

    public PlatformModel Model { get; }
    public IReadOnlyList<HostSystem> Hosts { get; }
    /// <summary>The model's multi-root part (MRA switch, manager, MRA devices), or null.</summary>
    public MultiRootSystem? MultiRoot { get; private init; }

    /// <summary>Each host's view as host software sees it (for lspci, setpci, drivers).</summary>
    public IReadOnlyList<IConfigAccessor> Accessors => Hosts;

    /// <summary>
    /// Builds the fabric and functions the model describes. The model is already validated, so a
    /// failure here is a bug or an unsupported combination; it surfaces as <see cref="PlatformBuildException"/>.
    /// </summary>
    public static PcieSystem Build(PlatformModel model, ILoggerFactory? loggerFactory = null)
    {
        loggerFactory ??= NullLoggerFactory.Instance;
        var builder = new HostBuilder(loggerFactory, model.BaseDirectory);
        var hosts = new List<HostSystem>();
        foreach (var h in model.Hosts)
        {
            try
            {
                hosts.Add(new HostSystem(h, builder.Build(h), loggerFactory.CreateLogger("PcieVirt.Platform")));
            }
            catch (ArgumentException e)
            {
                throw new PlatformBuildException($"{model.SourceName}: {h.Path}: {e.Message}", e);
            }
            catch (InvalidOperationException e)
            {
                throw new PlatformBuildException($"{model.SourceName}: {h.Path}: {e.Message}", e);
            }
        }
        MultiRootSystem? multiRoot = null;
        if (model.MultiRoot is { } mr)
        {
            try { multiRoot = new MultiRootBuilder(loggerFactory, model.BaseDirectory).Build(mr, hosts); }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                throw new PlatformBuildException($"{model.SourceName}: {mr.Path}: {e.Message}", e);
            }
        }
        return new PcieSystem(model, hosts) { MultiRoot = multiRoot };
    }

    /// <summary>Builds and boots (enumerates every host) in one step.</summary>
    public static PcieSystem Boot(PlatformModel model, ILoggerFactory? loggerFactory = null)
    {
        var s = Build(model, loggerFactory);
        s.Boot();
        return s;
    }

    /// <summary>Runs firmware enumeration on every host; returns the reports.</summary>
    public IReadOnlyList<EnumerationReport> Boot()
    {
        var reports = new List<EnumerationReport>(Hosts.Count);
        // The manager sets up the VHs before the hosts enumerate them.
        MultiRoot?.Boot();
        foreach (var h in Hosts) reports.Add(h.Enumerate());
        return reports;
    }

    public HostSystem? FindHost(string name)
    {
        foreach (var h in Hosts) if (h.Name == name) return h;
        return null;
    }
}

/// <summary>A model could not be turned into a fabric (the message names the model path).</summary>
public sealed class PlatformBuildException(string message, Exception inner) : Exception(message, inner);
