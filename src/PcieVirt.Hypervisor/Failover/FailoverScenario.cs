using PcieVirt.Devices.RaidController;
using PcieVirt.Fabric;
using PcieVirt.Fabric.MultiRoot;
using PcieVirt.Hypervisor.Sim;
using PcieVirt.Hypervisor.Timing;
using PcieVirt.Hypervisor.Vmm;
using PcieVirt.Pci;
using PcieVirt.Pci.Config;
using PcieVirt.Platform;
using PcieVirt.Platform.Model;

namespace PcieVirt.Hypervisor.Failover;

/// <summary>Settings of the failover scenario.</summary>
public sealed record FailoverOptions
{
    /// <summary>Writes of the run the failure interrupts (one per 4 KiB unit, each unit written once).</summary>
    public int Ops { get; init; } = 256;
    /// <summary>Seed of the data pattern, the unit order and the failure moment.</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary>Requests the guest keeps in flight.</summary>
    public int IoDepth { get; init; } = 8;
    /// <summary>
    /// Time from the failure until MR-PCIM acts: a modelled heartbeat timeout (the manager's own policy;
    /// no specification fixes it).
    /// </summary>
    /// <summary>Phase durations: detection, MR-PCIM move, slot rescan (with its 100 ms wait), host B bring-up.</summary>
    public ulong DetectNs { get; init; } = 1_000_000;
    /// <summary>The timing model's parameters.</summary>
    public TimingParameters Timing { get; init; } = new();
    /// <summary>The volume; null = the RAID controller's first volume.</summary>
    public string? Volume { get; init; }
    /// <summary>Records the phases and every guest I/O when set (for trace files).</summary>
    public EventTrace? Trace { get; init; }
    /// <summary>Told the number of guest completions so far (for a progress bar), every 256.</summary>
    public Action<long>? Progress { get; init; }
}

/// <summary>What the failover scenario did and measured (virtual times in ns).</summary>
public sealed record FailoverResult
{
    /// <summary>The host that fails.</summary>
    public required string HostA { get; init; }
    /// <summary>The host that takes over.</summary>
    public required string HostB { get; init; }
    /// <summary>The PF MR-PCIM moved.</summary>
    public required string MovedPf { get; init; }
    /// <summary>The volume written and read back.</summary>
    public required string Volume { get; init; }
    /// <summary>Where the PF answers in host B after the move.</summary>
    public required string NewAddress { get; init; }
    /// <summary>Units written (generation 0) and acknowledged before the measured run: the "old" data.</summary>
    public int Prefilled { get; init; }
    /// <summary>Generation 1 writes the guest submitted before its host failed.</summary>
    public int Written { get; init; }
    /// <summary>Of those, completions the guest had reaped before the failure.</summary>
    public int Acknowledged { get; init; }
    /// <summary>Submitted but not acknowledged at the failure.</summary>
    public int InFlightAtFailure { get; init; }
    /// <summary>Acknowledged writes that did not read back byte for byte on host B (must be 0).</summary>
    public int LostAcknowledged { get; init; }
    /// <summary>In-flight writes that read back as the new data / as the old data.</summary>
    public int InFlightNew { get; init; }
    public int InFlightOld { get; init; }
    /// <summary>Units that read back neither whole old nor whole new data (must be 0).</summary>
    public int Torn { get; init; }
    /// <summary>Units read back and checked on host B.</summary>
    public int Verified { get; init; }
    /// <summary>Reads on host B that failed.</summary>
    public int ReadErrors { get; init; }
    /// <summary>Virtual time of the failure (host A's clock).</summary>
    public ulong FailureAtNs { get; init; }
    public ulong DetectNs { get; init; }
    public ulong MoveNs { get; init; }
    public ulong RescanNs { get; init; }
    public ulong BringUpNs { get; init; }
    /// <summary>From the replacement guest's first read submitted to its completion.</summary>
    public ulong FirstReadNs { get; init; }
    /// <summary>Failure to the replacement guest's first successful read.</summary>
    public ulong FailoverNs { get; init; }
    /// <summary>DMA reads completed UR / DMA writes and MSIs dropped towards the failed host.</summary>
    public long UpstreamRefused { get; init; }
    public long UpstreamDropped { get; init; }
    /// <summary>Host-side requests (config, MMIO) refused by the failed host.</summary>
    public long HostRequestsRefused { get; init; }
    /// <summary>Functions host B already had, and whether every BAR register of them kept its value through the rescan.</summary>
    public int HostBFunctionsKept { get; init; }
    public bool HostBBarsUnchanged { get; init; }
}

/// <summary>
/// Failover across hosts through MR-IOV: a guest on host A writes to a volume through a VF of PF-A; host A
/// fails with writes in flight; MR-PCIM moves PF-A to host B's VH (hot-add on a free virtual downstream
/// port); host B rescans that slot only, its PF driver brings the PF up and provisions a VF, its
/// hypervisor starts the replacement guest on the same volume, which reads every unit back.
/// </summary>
public static class FailoverScenario
{
    /// <summary>Runs the scenario on a fresh boot of <paramref name="model"/>.</summary>
    public static FailoverResult Run(PlatformModel model, FailoverOptions o)
    {
        if (o.Ops < 1) throw new ArgumentOutOfRangeException(nameof(o), "ops must be at least 1");
        if (o.IoDepth is < 1 or > 63) throw new ArgumentOutOfRangeException(nameof(o), "depth must be 1..63");
        var system = PcieSystem.Boot(model);
        var mr = system.MultiRoot ?? throw new InvalidOperationException($"{model.SourceName} has no multi-root part (use a model like devicemodels/mriov-2host.json)");
        var dev = mr.Devices.FirstOrDefault(d => d.Raid != null) ?? throw new InvalidOperationException("the multi-root part has no RAID controller");
        var raid = dev.Raid!;
        var hostVhs = mr.Switch.Hierarchies.Where(v => !v.IsManagement).ToList();
        if (hostVhs.Count < 2) throw new InvalidOperationException("failover needs two host VHs");
        var vhA = hostVhs[0];
        var vhB = hostVhs[1];
        var hostA = system.Hosts.First(h => h.RootComplex == vhA.RootComplex);
        var hostB = system.Hosts.First(h => h.RootComplex == vhB.RootComplex);
        var inA = mr.Switch.Bindings.Where(b => b.Vh == vhA && b.DevicePort == dev.Port).ToList();
        if (inA.Count == 0) throw new InvalidOperationException($"no PF of {dev.Device.Name} is assigned to {vhA}");
        var bindingA = inA[0];
        int pfIndex = bindingA.PfIndex;
        var pfA = (RaidControllerFunction)bindingA.Function;
        string volume = o.Volume ?? raid.Engine.Volumes.FirstOrDefault()?.Name ?? throw new InvalidOperationException("the RAID controller has no volume");
        const int vfNumber = 1;
        var vol = raid.Engine.FindVolume(volume) ?? throw new InvalidOperationException($"no volume '{volume}'");
        if (!raid.ControllerAttachmentsOf(vol).Contains((pfIndex, vfNumber)))
        {
            var r = raid.Attach(volume, pfIndex, vfNumber);
            if (!r.IsSuccess) throw new InvalidOperationException($"attaching {volume} to VF {vfNumber} of {pfA.Name}: {r.Error}");
        }
        var trace = o.Trace;
        var rng = new SplitMix(o.Seed);

        // ---- host A: its hypervisor, the guest, the prefill (old data), the run the failure interrupts.
        var a = BenchHost.ForHost(system, hostA, pfA, o.Timing, volume);
        var guestA = VfGuestBringUp.Start(a, pfIndex, vfNumber, "vm-a", o.IoDepth);
        var ioA = new FailoverGuest(a.Engine, guestA.Cpu, guestA.Frontend, o.Timing, o.IoDepth, o.Seed) { Progress = o.Progress };
        ulong units = ioA.Units;
        if ((ulong)o.Ops > units) throw new ArgumentOutOfRangeException(nameof(o), $"ops {o.Ops} exceed the volume's {units} 4 KiB units");
        var order = Enumerable.Range(0, o.Ops).ToArray();
        for (int i = order.Length - 1; i > 0; i--) { int j = (int)(rng.Next() % (ulong)(i + 1)); (order[i], order[j]) = (order[j], order[i]); }

        var prefill = order.Select(u => new GuestRequest(u, true, 0)).ToList();
        int prefillOk = 0;
        ioA.Completed = (i, ok, _, s, e) => { if (ok) prefillOk++; trace?.Complete(s, e - s, "guest A", "prefill write", "io", $"unit {prefill[i].Unit}"); };
        ioA.Run(prefill);
        if (!a.Engine.RunUntil(() => ioA.IsDone)) throw new InvalidOperationException("the prefill stalled");
        if (prefillOk != o.Ops) throw new InvalidOperationException($"the prefill completed {prefillOk} of {o.Ops} writes");

        var run = order.Select(u => new GuestRequest(u, true, 1)).ToList();
        var submitted = new bool[o.Ops];
        var acked = new bool[o.Ops];
        int ackedCount = 0;
        // The failure comes after a seeded number of acknowledgements plus a seeded delay, so writes are in flight.
        int failAfter = Math.Max(1, o.Ops / 4 + (int)(rng.Next() % (ulong)Math.Max(1, o.Ops / 2)));
        ulong jitter = 1 + rng.Next() % 20_000;
        bool failed = false, failScheduled = false;
        var failure = new ActionEvent(() =>
        {
            failed = true;
            ioA.Stop();
            a.RootComplex.Fail();
            trace?.Instant(a.Engine.Now, "failover", "host A fails", "phase", $"{ioA.InFlight} writes in flight");
        });
        ioA.SubmittedRequest = (i, _) => submitted[i] = true;
        ioA.Completed = (i, ok, _, s, e) =>
        {
            trace?.Complete(s, e - s, "guest A", ok ? "write" : "write (error)", "io", $"unit {run[i].Unit}");
            if (!ok) return;
            acked[i] = true;
            ackedCount++;
            if (!failScheduled && ackedCount >= failAfter)
            {
                failScheduled = true;
                a.Engine.Schedule(a.Engine.Now + jitter, failure, 0);
            }
        };
        ioA.Run(run);
        if (!a.Engine.RunUntil(() => failed || ioA.IsDone)) throw new InvalidOperationException("the run stalled before the failure");
        if (!failed) { a.Engine.Schedule(a.Engine.Now, failure, 0); a.Engine.RunUntil(() => failed); }
        ulong failAt = a.RootComplex.FailedAtNs;
        // What host A had seen: acknowledged = completion reaped before the failure.
        var ackedAtFailure = (bool[])acked.Clone();
        int written = submitted.Count(s => s), ackedN = ackedAtFailure.Count(x => x);
        // The device side keeps running: commands it already holds finish (their completions die with host A).
        a.Engine.RunUntil(() => guestA.VfController.CommandsInFlight == 0, failAt + 50 * VirtualClock.Millisecond);

        // ---- host B's timeline starts at the failure.
        var clockB = hostB.RootComplex.Clock;
        if (clockB.Now < failAt) clockB.AdvanceTo(failAt);
        ulong t0 = clockB.Now;
        clockB.Advance(o.DetectNs);
        trace?.Complete(t0, o.DetectNs, "failover", "detect", "phase", "MR-PCIM heartbeat timeout");

        // Move: BF table write from VH0, hot-remove in A's VH, hot-add on a free virtual port in B's VH.
        var barsBefore = SnapshotBars(hostB);
        ulong tMove = clockB.Now;
        var mgmtLink = mr.Switch.ManagementVh!.HostLink;
        long cfgBefore = ConfigCount(mgmtLink);
        var moved = mr.Manager.Move(dev.Port, pfIndex, vhB.Id);
        if (!moved.IsSuccess) throw new InvalidOperationException($"MR-PCIM move: {moved.Error}");
        var bindingB = mr.Switch.BindingOf(dev.Port, pfIndex)!.Value;
        clockB.Advance((ulong)(ConfigCount(mgmtLink) - cfgBefore) * o.Timing[TimingParameter.MmioReadRoundTrip]);
        ulong moveNs = clockB.Now - tMove;
        trace?.Complete(tMove, moveNs, "failover", "move", "phase", $"{pfA.Name} to VH{vhB.Id} vport {bindingB.VirtualPort}");

        // Rescan: software waits 100 ms after Data Link Layer Link Active before its first configuration
        // request to the device (§6.6.1), then rescans the one slot.
        ulong tRescan = clockB.Now;
        clockB.Advance(100 * VirtualClock.Millisecond);
        var port = vhB.VirtualDownstreamPorts[bindingB.VirtualPort];
        long cfgB = ConfigCount(vhB.HostLink);
        var slot = hostB.RescanSlot(port.Function.Bdf);
        if (!slot.Succeeded) throw new InvalidOperationException($"{hostB.Name}: slot rescan: {string.Join("; ", slot.Failures)}");
        clockB.Advance((ulong)(ConfigCount(vhB.HostLink) - cfgB) * o.Timing[TimingParameter.MmioReadRoundTrip]);
        ulong rescanNs = clockB.Now - tRescan;
        trace?.Complete(tRescan, rescanNs, "failover", "rescan", "phase", $"slot below {port.Function.Bdf}: {slot.Functions.Count} functions");
        var barsAfter = SnapshotBars(hostB);
        bool barsKept = barsBefore.All(kv => barsAfter.TryGetValue(kv.Key, out var v) && v.SequenceEqual(kv.Value));

        // Bring-up on host B: PF driver, SR-IOV, VF provisioned, VM with the VF (same volume, same VF number).
        ulong tUp = clockB.Now;
        var b = BenchHost.ForHost(system, hostB, pfA, o.Timing, volume);
        var guestB = VfGuestBringUp.Start(b, pfIndex, vfNumber, "vm-b", o.IoDepth);
        ulong upNs = clockB.Now - tUp;
        trace?.Complete(tUp, upNs, "failover", "bring-up", "phase", $"{pfA.Name} at {new PciAddress(hostB.RootComplex.Segment, pfA.Bdf)}, VF {vfNumber}");

        // The replacement guest reads every unit back.
        var ioB = new FailoverGuest(b.Engine, guestB.Cpu, guestB.Frontend, o.Timing, o.IoDepth, o.Seed) { Progress = o.Progress, CompletionsBefore = ioA.CompletionsSoFar };
        var reads = order.Select(u => new GuestRequest(u, false, 0)).ToList();
        int lost = 0, inNew = 0, inOld = 0, torn = 0, verified = 0, errors = 0;
        ulong firstReadDone = 0, firstReadStart = 0;
        var oldData = new byte[FailoverGuest.UnitBytes];
        var newData = new byte[FailoverGuest.UnitBytes];
        int blockSize = guestB.Frontend.BlockSize;
        ioB.Completed = (i, ok, data, s, e) =>
        {
            trace?.Complete(s, e - s, "guest B", ok ? "read" : "read (error)", "io", $"unit {reads[i].Unit}");
            if (!ok || data is not { } d) { errors++; return; }
            if (firstReadDone == 0) { firstReadDone = e; firstReadStart = s; }
            verified++;
            ulong unit = (ulong)reads[i].Unit;
            FailoverGuest.Fill(o.Seed, 0, unit, blockSize, oldData);
            FailoverGuest.Fill(o.Seed, 1, unit, blockSize, newData);
            bool isNew = d.Span.SequenceEqual(newData), isOld = d.Span.SequenceEqual(oldData);
            // reads[i] and run[i] are the same unit: both follow `order`.
            if (ackedAtFailure[i]) { if (!isNew) lost++; }
            else if (submitted[i]) { if (isNew) inNew++; else if (isOld) inOld++; else torn++; }
            else if (!isOld) torn++;
        };
        ulong tRead = clockB.Now;
        ioB.Run(reads);
        if (!b.Engine.RunUntil(() => ioB.IsDone)) throw new InvalidOperationException("the replacement guest's reads stalled");
        if (firstReadDone == 0) throw new InvalidOperationException("the replacement guest read nothing successfully");
        trace?.Complete(tRead, b.Engine.Now - tRead, "failover", "read back", "phase", $"{verified} units");

        return new FailoverResult
        {
            HostA = hostA.Name, HostB = hostB.Name, MovedPf = pfA.Name, Volume = volume,
            NewAddress = new PciAddress(hostB.RootComplex.Segment, pfA.Bdf).ToString(),
            Prefilled = prefillOk, Written = written, Acknowledged = ackedN, InFlightAtFailure = written - ackedN,
            LostAcknowledged = lost, InFlightNew = inNew, InFlightOld = inOld, Torn = torn, Verified = verified, ReadErrors = errors,
            FailureAtNs = failAt, DetectNs = o.DetectNs, MoveNs = moveNs, RescanNs = rescanNs, BringUpNs = upNs,
            FirstReadNs = firstReadDone - firstReadStart, FailoverNs = firstReadDone - failAt,
            UpstreamRefused = a.RootComplex.UpstreamRefusedAfterFailure, UpstreamDropped = a.RootComplex.UpstreamDroppedAfterFailure,
            HostRequestsRefused = a.RootComplex.HostRequestsRefused,
            HostBFunctionsKept = barsBefore.Count, HostBBarsUnchanged = barsKept,
        };
    }

    static long ConfigCount(MrLink link) => link.Count(MrTlpKind.CfgRd) + link.Count(MrTlpKind.CfgWr);

    /// <summary>The raw BAR registers (six, or two for a bridge, plus bridge windows) of every function the host has now.</summary>
    static Dictionary<PciAddress, uint[]> SnapshotBars(HostSystem host)
    {
        var result = new Dictionary<PciAddress, uint[]>();
        foreach (var a in host.Functions())
        {
            if (host.RootComplex.FindFunction(a.Bdf) is not { } f) continue;
            // Direct register reads: the host's bookkeeping, not requests that would count as rescan traffic.
            var regs = new uint[9];
            for (int i = 0; i < 6; i++) regs[i] = f.Config.Read32(PciRegs.Bar0 + 4 * i);
            if (f.IsBridge)
            {
                regs[6] = f.Config.Read32(PciRegs.MemoryBase);
                regs[7] = f.Config.Read32(PciRegs.PrefetchableBase);
                regs[8] = f.Config.Read32(PciRegs.PrimaryBus);
            }
            result[a] = regs;
        }
        return result;
    }

    sealed class ActionEvent(Action action) : ISimEventHandler
    {
        public void OnEvent(int tag, long argument) => action();
    }

    /// <summary>splitmix64: a small seeded generator whose sequence does not depend on the runtime.</summary>
    sealed class SplitMix(ulong seed)
    {
        ulong _s = seed;

        public ulong Next()
        {
            ulong z = _s += 0x9E37_79B9_7F4A_7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
            return z ^ (z >> 31);
        }
    }
}
