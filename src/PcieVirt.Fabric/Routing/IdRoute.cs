using PcieVirt.Pci;
using PcieVirt.Pci.Functions;

namespace PcieVirt.Fabric;

/// <summary>Which way an ID-routed TLP crosses a bridge.</summary>
public enum RouteDirection
{
    /// <summary>From the secondary side to the primary side (towards the root complex).</summary>
    Upstream,
    /// <summary>From the primary side to the secondary side.</summary>
    Downstream,
}

/// <summary>One bridge an ID-routed TLP crossed.</summary>
public readonly record struct IdRouteHop(BridgeFunction Bridge, Bdf BridgeId, RouteDirection Direction)
{
    public override string ToString() => $"{(Direction == RouteDirection.Upstream ? "up" : "down")} {BridgeId}";
}

/// <summary>
/// The path of an ID-routed TLP (completion, ID-routed message; §2.2.4.2): the bridges it crossed
/// in order and where it ended. <see cref="Status"/> is UR when no function has the target ID.
/// </summary>
public sealed class IdRoute
{
    internal IdRoute(Bdf source, Bdf target, IReadOnlyList<IdRouteHop> hops, CompletionStatus status,
        PciFunction? completer, bool reachesHost)
    {
        Source = source;
        Target = target;
        Hops = hops;
        Status = status;
        Completer = completer;
        ReachesHost = reachesHost;
    }

    public Bdf Source { get; }
    public Bdf Target { get; }
    public IReadOnlyList<IdRouteHop> Hops { get; }
    public CompletionStatus Status { get; }
    /// <summary>The function the TLP was delivered to (null when it reached the host or nobody).</summary>
    public PciFunction? Completer { get; }
    /// <summary>True when the target is the root complex's own requester ID (e.g. a completion to the CPU).</summary>
    public bool ReachesHost { get; }

    public override string ToString() =>
        $"{Source} -> {Target}: {string.Join(", ", Hops)} => {(ReachesHost ? "host" : Completer?.Name ?? "UR")}";
}
