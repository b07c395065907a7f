using PcieVirt.Pci;

namespace PcieVirt.Fabric;

// ID-based routing (PCIe Base Spec §2.2.4.2): at each bridge a TLP whose target bus lies in
// [Secondary, Subordinate] goes down, otherwise it goes up. See spec-notes/fabric-routing.md.
public sealed partial class RootComplex
{
    /// <summary>
    /// Routes an ID-routed TLP from <paramref name="source"/> (a function, or the root complex's
    /// <see cref="RequesterId"/>) to <paramref name="target"/> and returns the bridges it crosses.
    /// </summary>
    public IdRoute RouteById(Bdf source, Bdf target)
    {
        var hops = new List<IdRouteHop>();
        PciBus bus;
        FunctionSlot? came = null;
        if (FindSlot(source) is { } from)
        {
            bus = from.Bus;
        }
        else if (source == RequesterId)
        {
            bus = RootBus;
        }
        else
        {
            return new IdRoute(source, target, hops, CompletionStatus.UnsupportedRequest, null, false);
        }

        bool goingDown = false;
        while (true)
        {
            // Delivered when the target is on this bus (or on one of the extra bus numbers a device
            // on this link owns); a target on this bus number that nobody answers is UR.
            int offset = target.Bus - bus.Number;
            if (offset == 0 || (bus.Kind == PciBusKind.Link && offset > 0 && bus.HasFunctionsAt(offset)))
            {
                if (bus.SlotsAt(offset)[target.DevFn] is { } hit)
                    return new IdRoute(source, target, hops, CompletionStatus.SuccessfulCompletion, hit.Function, false);
                bool host = bus.Kind == PciBusKind.Root && target == RequesterId;
                return new IdRoute(source, target, hops, host ? CompletionStatus.SuccessfulCompletion : CompletionStatus.UnsupportedRequest, null, host);
            }

            var claim = bus.FindBridgeClaiming(target.Bus);
            if (claim != null && claim != came)
            {
                hops.Add(new IdRouteHop(claim.Bridge!, claim.Function.Bdf, RouteDirection.Downstream));
                came = null;
                goingDown = true;
                bus = claim.ChildBus!;
                continue;
            }
            if (goingDown || bus.Kind == PciBusKind.Root)
                return new IdRoute(source, target, hops, CompletionStatus.UnsupportedRequest, null, false);

            // Not below this bus: the bridge above forwards it upstream, unless the target is inside
            // its own range, in which case nothing below claimed it and it ends here as UR.
            var owner = bus.Owner!;
            if (owner.Bridge!.ClaimsBus(target.Bus))
                return new IdRoute(source, target, hops, CompletionStatus.UnsupportedRequest, null, false);
            hops.Add(new IdRouteHop(owner.Bridge, owner.Function.Bdf, RouteDirection.Upstream));
            came = owner;
            bus = owner.Bus;
        }
    }
}
