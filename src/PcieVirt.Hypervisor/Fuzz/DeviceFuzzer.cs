using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PcieVirt.Devices.Driver;
using PcieVirt.Devices.Nvme;
using PcieVirt.Devices.RaidController;
using PcieVirt.Fabric;
using PcieVirt.Pci.Capabilities;
using PcieVirt.Pci.Config;
using PcieVirt.Pci.Functions;
using PcieVirt.Platform;
using PcieVirt.Platform.HostOs;
using PcieVirt.Platform.Model;

namespace PcieVirt.Hypervisor.Fuzz;

/// <summary>
/// A deterministic fuzzer of the RAID controller's device surface (the PF and its VFs). Every step, drawn
/// from one SplitMix64 stream, aims one kind of abuse at one function — random and grammar-aware config
/// writes through the root complex, NVMe register and doorbell writes, MSI-X table writes, malformed
/// submission entries and PRP lists, FLRs, VF enable/disable — or valid I/O from the reference driver that
/// leaves acknowledged data behind. An IOMMU confines each VF to its own host RAM region; the PF is
/// pass-through. After every step the invariants are checked: read-only config bits unchanged, sentinel
/// RAM outside every domain untouched, other functions untouched by a step aimed at a VF, acknowledged
/// data intact, no exception escaped. The step sequence depends only on the seed, so a run of K+1
/// iterations replays a violation found at step K.
/// </summary>
public sealed partial class DeviceFuzzer
{
    const ulong RegionSize = 4UL << 20;
    const ulong ScratchSize = 256UL << 10;
    const int SentinelSize = 8192;
    const int SriovControl = 0x08, SriovNumVfs = 0x10, SriovSystemPageSize = 0x20, SriovVfBar0 = 0x24, SriovVfBarEnd = 0x3C;
    const ushort SriovVfEnable = 1, SriovVfMse = 1 << 3, SriovAri = 1 << 4;

    readonly FuzzOptions _o;
    readonly SplitMix64 _rng;
    readonly ILogger _log;
    readonly List<FuzzLane> _lanes = [];
    readonly List<(ulong Address, byte[] Expected)> _sentinels = [];
    readonly byte[] _sentinelRead = new byte[SentinelSize];
    readonly byte[] _io = new byte[64 * 1024];
    readonly byte[] _expect = new byte[64 * 1024];
    readonly RaidControllerFunction _pf;
    readonly SriovCapability _sriov;
    readonly ulong _ramTop;
    FuzzResult _result = null!;
    long _step;
    FuzzStepKind _kind;
    int _target;
    bool _vfsUp;
    bool _global; // the step (or a recovery in it) legitimately touched every function

    /// <summary>Boots <paramref name="model"/> and prepares the PF, <see cref="FuzzOptions.Vfs"/> VFs and the IOMMU.</summary>
    public DeviceFuzzer(PlatformModel model, FuzzOptions options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        _o = options ?? throw new ArgumentNullException(nameof(options));
        if (_o.Iterations < 0) throw new ArgumentOutOfRangeException(nameof(options), "iterations must not be negative");
        if (_o.Vfs < 1) throw new ArgumentOutOfRangeException(nameof(options), "at least one VF is fuzzed");
        _log = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("PcieVirt.Hypervisor.Fuzz");
        _rng = new SplitMix64(_o.Seed);
        // The platform logs nothing: a fuzz run is millions of deliberately bad accesses, each of which would be a warning.
        System = PcieSystem.Boot(model);
        Host = System.Hosts[0];
        RootComplex = Host.RootComplex;
        _pf = Host.RaidControllers().FirstOrDefault() ?? throw new InvalidOperationException("the model has no RAID controller to fuzz");
        _sriov = _pf.FindCapability<SriovCapability>() ?? throw new InvalidOperationException($"{_pf} has no SR-IOV capability");
        Vfs = Math.Min(_o.Vfs, (int)_sriov.TotalVfs);
        if (Vfs < 1) throw new InvalidOperationException($"{_pf}: TotalVFs is 0");
        Iommu = new Iommu.Iommu(); // unlogged, like the platform: refused requests are the point of most steps
        RootComplex.Iommu = new DmaWatch(this);
        Iommu.AttachPassThrough(_pf.Bdf);

        // Host RAM: per function a 4 MiB region, with a sentinel block before the first, after each, and one low in RAM.
        var ram = RootComplex.HostMemory.Ranges.OrderByDescending(r => r.Size).First();
        _ramTop = RootComplex.HostMemory.Ranges.Max(r => r.Base + r.Size);
        ulong stride = RegionSize + SentinelSize;
        ulong need = (ulong)(Vfs + 1) * stride + SentinelSize;
        if (ram.Size < 2 * need + (32UL << 20)) throw new InvalidOperationException("host RAM is too small for the fuzzer's regions");
        ulong low = (ram.Base + ram.Size - need - (1UL << 20)) & ~((2UL << 20) - 1);
        var seedRng = new SplitMix64(_o.Seed ^ 0x5E47_1E15_0000_0001UL);
        AddSentinel(ram.Base + (16UL << 20), seedRng);
        AddSentinel(low, seedRng);
        var pfAddress = new PciAddress(RootComplex.Segment, _pf.Bdf);
        for (int i = 0; i <= Vfs; i++)
        {
            ulong region = low + SentinelSize + (ulong)i * stride;
            var lane = new FuzzLane(i, pfAddress, region, RegionSize, ScratchSize);
            if (i > 0)
            {
                lane.Domain = Iommu.CreateDomain($"fuzz-vf{i}");
                lane.Domain.Map(region, region, RegionSize); // identity: the driver's host addresses are the VF's IOVAs
            }
            _lanes.Add(lane);
            AddSentinel(region + RegionSize, seedRng);
        }
        Iommu.FaultRecorded += _ => { if (_result != null) _result.IommuFaults++; };

        // Bring the PF up, enable and provision the VFs, give every function a namespace and LBA slots.
        _result = new FuzzResult(_o.Seed, Vfs, _o.Timed);
        var pfLane = _lanes[0];
        SavePlacement();
        BringUp(pfLane);
        if (!EnableVfs()) throw new InvalidOperationException($"cannot enable {Vfs} VFs on {_pf}");
        AttachVolumes();
        foreach (var l in _lanes)
        {
            if (l.Dirty) BringUp(l);
            ChooseNamespace(l);
            SnapshotReadOnly(l);
        }
        _result = new FuzzResult(_o.Seed, Vfs, _o.Timed);
    }

    public PcieSystem System { get; }
    public HostSystem Host { get; }
    public RootComplex RootComplex { get; }
    /// <summary>The IOMMU the fuzzer installs at the root complex.</summary>
    public Iommu.Iommu Iommu { get; }
    /// <summary>VFs fuzzed beside the PF.</summary>
    public int Vfs { get; }
    /// <summary>The fuzzed functions: [0] the PF, [n] VF n.</summary>
    public IReadOnlyList<FuzzLane> Lanes => _lanes;
    /// <summary>Host addresses of the sentinel blocks (RAM no function may write).</summary>
    public IReadOnlyList<ulong> Sentinels => [.. _sentinels.Select(s => s.Address)];
    /// <summary>The function a lane's step targets now (null when a VF is not enabled).</summary>
    public PciFunction? FunctionOf(FuzzLane lane) => lane.IsPf ? _pf : _vfsUp ? RootComplex.FindFunction(lane.Address.Bdf) : null;

    /// <summary>Runs <see cref="FuzzOptions.Iterations"/> steps.</summary>
    public FuzzResult Run(Action<long>? progress = null)
    {
        _result = new FuzzResult(_o.Seed, Vfs, _o.Timed);
        ulong fp = 0xCBF2_9CE4_8422_2325UL;
        for (_step = 0; _step < _o.Iterations; _step++)
        {
            _kind = ChooseKind();
            _target = ChooseTarget(_kind);
            _global = _target == 0;
            var lane = _lanes[_target];
            _result.StepsByKind[(int)_kind]++;
            if (_o.Timed)
            {
                // Time passes before the step, outside the window in which other functions must stay still:
                // their own commands may complete then.
                try
                {
                    PassTime();
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    Violation(FuzzInvariant.Exception, $"{e.GetType().Name} while time passed: {e.Message} at {FirstFrame(e)}");
                }
            }
            CaptureBefore(lane);
            long violationsBefore = _result.ViolationCount;
            try
            {
                Execute(_kind, lane);
                _o.StepHook?.Invoke(this, new FuzzStep(_step, _kind, _target));
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Violation(FuzzInvariant.Exception, $"{e.GetType().Name}: {e.Message} at {FirstFrame(e)}");
                // The harness cannot know what state the function is in; its driver starts over.
                lane.Dirty = true;
            }
            CheckInvariants(lane);
            ulong outcome = (ulong)_kind << 8 | (uint)_target | (ulong)Math.Max(0L, _result.ViolationCount - violationsBefore) << 16;
            fp = (fp ^ outcome) * 0x0000_0100_0000_01B3UL;
            _result.Iterations = _step + 1;
            if ((_step & 0xFFF) == 0) progress?.Invoke(_step);
            if (_o.StopOnViolation && _result.ViolationCount > 0) break;
        }
        _result.Fingerprint = fp ^ (ulong)_result.BlocksWritten * 31 ^ (ulong)_result.FuzzCommandErrors * 131 ^ (ulong)_result.IommuFaults * 8191;
        return _result;
    }

    static string FirstFrame(Exception e)
    {
        var st = e.StackTrace;
        if (st is null) return "?";
        int nl = st.IndexOf('\n');
        return (nl < 0 ? st : st[..nl]).Trim();
    }

    // ------------------------------------------------------------------ choosing steps

    FuzzStepKind ChooseKind()
    {
        // Weights: mostly abuse, with enough valid I/O that acknowledged data exists and is read back.
        int r = _rng.Below(100);
        return r switch
        {
            < 14 => FuzzStepKind.ConfigRandom,
            < 30 => FuzzStepKind.ConfigStructured,
            < 40 => FuzzStepKind.MmioRegister,
            < 48 => FuzzStepKind.Doorbell,
            < 55 => FuzzStepKind.MsixTable,
            < 67 => FuzzStepKind.MalformedSqe,
            < 74 => FuzzStepKind.PrpList,
            < 76 => FuzzStepKind.Flr,
            < 77 => FuzzStepKind.VfToggle,
            < 81 => FuzzStepKind.AdminCommand,
            _ => FuzzStepKind.ValidIo,
        };
    }

    int ChooseTarget(FuzzStepKind kind)
    {
        if (kind == FuzzStepKind.VfToggle) return 0;
        // The PF takes a quarter of the steps, the VFs share the rest; a PF FLR is rarer (it takes every VF down).
        if (kind == FuzzStepKind.Flr && !_rng.OneIn(8)) return 1 + _rng.Below(Vfs);
        return _rng.OneIn(4) ? 0 : 1 + _rng.Below(Vfs);
    }

    // ------------------------------------------------------------------ invariants

    void CaptureBefore(FuzzLane target)
    {
        foreach (var l in _lanes)
        {
            l.BeforeValid = false;
            if (target.IsPf || l == target) continue;
            if (FunctionOf(l) is not { } f) continue;
            f.Config.Bytes.CopyTo(l.Before);
            l.BeforeState = ControllerState.Of(ControllerOf(f)!);
            l.BeforeValid = true;
        }
    }

    void CheckInvariants(FuzzLane target)
    {
        // Read-only bits of every present function.
        foreach (var l in _lanes)
        {
            if (FunctionOf(l) is not { } f || l.RoMask is null) continue;
            var now = f.Config.Bytes;
            var now64 = MemoryMarshal.Cast<byte, ulong>(now);
            var snap64 = MemoryMarshal.Cast<byte, ulong>(l.RoSnapshot.AsSpan());
            var mask64 = MemoryMarshal.Cast<byte, ulong>(l.RoMask.AsSpan());
            for (int q = 0; q < now64.Length; q++)
            {
                if (((now64[q] ^ snap64[q]) & mask64[q]) == 0) continue;
                for (int o = 8 * q; o < 8 * q + 8; o++)
                {
                if (((now[o] ^ l.RoSnapshot![o]) & l.RoMask[o]) == 0) continue;
                Violation(FuzzInvariant.ReadOnlyRegister,
                    $"{l.Name}: read-only bits of config byte 0x{o:x3} changed from 0x{l.RoSnapshot[o]:x2} to 0x{now[o]:x2} (mask 0x{l.RoMask[o]:x2})");
                l.RoSnapshot[o] = (byte)((l.RoSnapshot[o] & ~l.RoMask[o]) | (now[o] & l.RoMask[o])); // report each change once
                }
            }
        }
        // Sentinel RAM: outside every domain and every driver area, so nothing may have written it.
        foreach (var (address, expected) in _sentinels)
        {
            RootComplex.HostMemory.Read(address, _sentinelRead);
            if (_sentinelRead.AsSpan().SequenceEqual(expected)) continue;
            int at = _sentinelRead.AsSpan().CommonPrefixLength(expected);
            Violation(FuzzInvariant.DmaIsolation, $"sentinel RAM at 0x{address + (ulong)at:x} changed (host RAM outside every IOMMU domain and driver area)");
            RootComplex.HostMemory.Write(address, expected);
        }
        // A step aimed at one VF leaves every other function alone (unless it had to re-enable the VFs).
        if (!target.IsPf && !_global)
            foreach (var l in _lanes)
            {
                if (!l.BeforeValid || FunctionOf(l) is not { } f) continue;
                var now = f.Config.Bytes;
                if (!now.SequenceEqual(l.Before))
                {
                    int at = now.CommonPrefixLength(l.Before);
                    Violation(FuzzInvariant.FunctionIsolation, $"{l.Name}: config byte 0x{at:x3} changed from 0x{l.Before[at]:x2} to 0x{now[at]:x2}");
                }
                var state = ControllerState.Of(ControllerOf(f)!);
                if (state != l.BeforeState)
                    Violation(FuzzInvariant.FunctionIsolation, $"{l.Name}: controller state changed from {l.BeforeState} to {state}");
            }
    }

    void Violation(FuzzInvariant invariant, string message)
    {
        _result.ViolationCount++;
        var v = new FuzzViolation(_step, _kind, _lanes[_target].Name, invariant, message);
        if (_result.Violations.Count < _o.MaxViolationsKept) _result.Violations.Add(v);
        Log.Violation(_log, _step, _o.Seed, v.ToString());
    }

    void AddSentinel(ulong address, SplitMix64 rng)
    {
        var bytes = new byte[SentinelSize];
        for (int i = 0; i < bytes.Length; i += 8) BitConverter.TryWriteBytes(bytes.AsSpan(i), rng.Next());
        RootComplex.HostMemory.Write(address, bytes);
        _sentinels.Add((address, bytes));
    }

    void SnapshotReadOnly(FuzzLane l)
    {
        if (FunctionOf(l) is not { } f) return;
        var c = f.Config;
        l.RoMask = new byte[ConfigSpace.Size];
        l.RoSnapshot = c.Bytes.ToArray();
        for (int o = 0; o < ConfigSpace.Size; o++)
            l.RoMask[o] = (byte)~(c.WritableMask(o, 1) | c.W1cMask(o, 1) | DeviceOwned(l, f, o));
    }

    static NvmeController? ControllerOf(PciFunction f) => f switch
    {
        NvmeEndpointFunction pf => pf.Controller,
        NvmeVirtualFunction vf => vf.Controller,
        _ => null,
    };

    // ------------------------------------------------------------------ bring-up and recovery

    /// <summary>Brings the lane's function up with a fresh driver (queues 1 for valid I/O, 2 for the fuzzer); false when it is absent.</summary>
    bool BringUp(FuzzLane l)
    {
        if (FunctionOf(l) is not { } f) return false;
        var controller = ControllerOf(f)!;
        if (l.IsPf) RestorePlacement(); // the OS's resource assignment, in case a raw FLR cleared it
        l.Bus = new OsHostBus(Host, l.Address);
        l.Quiesced = false; // its driver is about to enable it
        if (_o.Timed)
        {
            var clock = RootComplex.Clock;
            controller.Clock = () => clock.Now;
            controller.Media ??= _media;
        }
        var memory = new HostMemoryAllocator(RootComplex.HostMemory, l.RegionBase + ScratchSize, l.RegionSize - ScratchSize);
        var driver = new NvmeDriver(l.Bus, memory, new NvmeDriverOptions
        {
            AdminQueueEntries = 16, IoQueueEntries = 16, IoQueuePairs = 2, MaxPolls = 4,
            FirstHostVector = (byte)(0x40 + 4 * Math.Min(l.Number, 40)),
            Pump = _o.Timed ? () => PumpTimed(controller) : () => controller.ProcessPending(),
        });
        l.Driver = null;
        driver.Initialize();
        l.Driver = driver;
        l.DataBuffer = memory.Allocate((ulong)_io.Length);
        l.ExpectedCc = controller.Cc;
        l.Dirty = false;
        if (l.IsPf && _vfsUp)
        {
            _global = true;
            return ProvisionVfs();
        }
        return true;
    }

    /// <summary>
    /// Brings a dirty lane back as a host driver would: probe; on failure reset the function (FLR) and
    /// probe again. A function still unusable after its reset breaks the Recovery invariant.
    /// </summary>
    bool EnsureUp(FuzzLane l)
    {
        if (!l.Dirty && Healthy(l)) return true;
        if (!l.IsPf && !VfStateIntact())
        {
            if (!EnableVfs()) return false;
        }
        // A reset primary controller took its secondaries offline: the PF driver comes back first and re-provisions them.
        if (!l.IsPf && !Healthy(_lanes[0]) && !EnsureUpPf()) return false;
        if (FunctionOf(l) is null || !l.Dirty && Healthy(l)) return FunctionOf(l) != null;
        _result.Recoveries++;
        try
        {
            return BringUp(l);
        }
        catch (NvmeDriverException first)
        {
            InitiateFlr(l);
            if (l.IsPf && !EnableVfs()) return false;
            try
            {
                return BringUp(l);
            }
            catch (NvmeDriverException again)
            {
                Violation(FuzzInvariant.Recovery, $"{l.Name}: driver bring-up failed ({first.Message}) and again after an FLR ({again.Message})");
                l.Dirty = true;
                return false;
            }
        }
    }

    /// <summary>True when the lane's driver can go on as it is: decoding, bus master, ready, its queues and CC as it left them.</summary>
    bool Healthy(FuzzLane l)
    {
        if (l.Driver is not { } d || FunctionOf(l) is not { } f || l.Bus is null) return false;
        // Memory Space and Bus Master Enable; a VF's Memory Space bit is always 0 (VF MSE in its PF governs it, §9.3.4.1.3).
        int needed = l.IsPf ? 0x6 : 0x4;
        if ((f.Config.Read16(PcieVirt.Pci.Config.PciRegs.Command) & needed) != needed) return false;
        if (!l.IsPf && !VfStateIntact()) return false;
        ulong bar = l.Bus.BarAddress(0);
        if (bar != d.RegisterBase) return false;
        Span<byte> b = stackalloc byte[4];
        if (RootComplex.MemoryRead(bar + NvmeRegisters.Csts, b) != CompletionStatus.SuccessfulCompletion) return false;
        uint csts = BitConverter.ToUInt32(b);
        if (csts == 0xFFFF_FFFF || (csts & 3) != 1) return false;
        var c = ControllerOf(f)!;
        if (c.Cc != l.ExpectedCc || !c.SubmissionQueueExists(1) || !c.CompletionQueueExists(1) || !c.SubmissionQueueExists(2) || !c.CompletionQueueExists(2))
            return false;
        Span<byte> q = stackalloc byte[8];
        RootComplex.MemoryRead(bar + NvmeRegisters.Asq, q);
        if (BitConverter.ToUInt64(q) != d.AdminQueue!.SqBase) return false;
        RootComplex.MemoryRead(bar + NvmeRegisters.Acq, q);
        if (BitConverter.ToUInt64(q) != d.AdminQueue.CqBase) return false;
        return true;
    }

    readonly Devices.Nvme.Qos.NvmeMediaModel _media = new(4);

    /// <summary>The driver's poll in timed mode: time moves to the next completion the controller has scheduled.</summary>
    void PumpTimed(NvmeController controller)
    {
        ulong next = controller.NextCompletionNs;
        if (next != ulong.MaxValue && next > RootComplex.Clock.Now) RootComplex.Clock.AdvanceTo(next);
        controller.ProcessPending();
    }

    /// <summary>Timed mode, after each step: a random stretch of virtual time passes and every controller catches up.</summary>
    void PassTime()
    {
        // Often no time at all, so the commands of one step are still in flight at the next.
        if (_rng.OneIn(2)) RootComplex.Clock.Advance((ulong)_rng.Below(200_000));
        foreach (var l in _lanes)
            if (FunctionOf(l) is { } f) ControllerOf(f)!.ProcessPending();
    }

    /// <summary>
    /// The root complex's remapper during a run: the IOMMU, plus a check that no function whose reset the
    /// fuzzer caused issues a request before its driver brought it up again (PCIe Base Spec §6.6.2: after an
    /// FLR the function must not issue requests for work from before it; NVMe §7.3.2: commands are aborted).
    /// </summary>
    sealed class DmaWatch(DeviceFuzzer owner) : IDmaRemapper
    {
        public bool TryTranslate(Pci.Bdf requester, ulong address, int length, bool write, out ulong hostAddress, out ulong stallNs)
        {
            owner.CheckQuiesced(requester, write ? "DMA write" : "DMA read", address);
            return owner.Iommu.TryTranslate(requester, address, length, write, out hostAddress, out stallNs);
        }

        public InterruptRemapOutcome RemapInterrupt(Pci.Bdf requester, ulong address, uint data, out ulong hostAddress, out uint hostData)
        {
            owner.CheckQuiesced(requester, "interrupt", address);
            return owner.Iommu.RemapInterrupt(requester, address, data, out hostAddress, out hostData);
        }
    }

    void CheckQuiesced(Pci.Bdf requester, string what, ulong address)
    {
        foreach (var l in _lanes)
            if (l.Quiesced && l.Address.Bdf == requester)
                Violation(FuzzInvariant.DmaAfterReset, $"{l.Name}: {what} at 0x{address:x} after its reset, before its driver enabled it");
    }

    /// <summary>VF Enable and VF MSE set, NumVFs as the fuzzer enabled them, ARI hierarchy unchanged.</summary>
    bool VfStateIntact()
    {
        if (!_vfsUp) return false;
        if (_sriov.VfEnable && _sriov.VfMemorySpaceEnable && _sriov.NumVfs == Vfs) return true;
        _vfsUp = false;
        foreach (var l in _lanes)
            if (!l.IsPf)
            {
                l.Dirty = true;
                l.Driver = null;
                if (!_sriov.VfEnable) l.Quiesced = true; // the VFs are gone, and whatever they had in flight with them
            }
        return false;
    }

    /// <summary>Enables the VFs through the host OS (after disabling whatever is left), provisions their secondary controllers and attaches their IOMMU domains.</summary>
    bool EnableVfs()
    {
        _global = true;
        var pfLane = _lanes[0];
        if ((pfLane.Dirty || !Healthy(pfLane)) && !EnsureUpPf()) return false;
        var pfAddress = pfLane.Address;
        Host.Os.DisableVfs(pfAddress);
        // A raw write may have left VF Enable set behind the OS's back: clear it the way the OS would.
        RootComplex.Write(pfAddress, _sriov.Offset + SriovControl, 2, 0);
        var r = Host.Os.EnableVfs(pfAddress, Vfs);
        if (r.Error != LinuxErrno.None)
        {
            Violation(FuzzInvariant.Recovery, $"enabling {Vfs} VFs through the host OS failed: {r.Message}");
            return false;
        }
        for (int n = 1; n <= Vfs; n++)
        {
            var vf = _sriov.VirtualFunctions[n - 1];
            var lane = _lanes[n];
            lane.Address = new PciAddress(RootComplex.Segment, vf.Bdf);
            Iommu.Attach(vf.Bdf, lane.Domain!);
        }
        if (!ProvisionVfs()) return false;
        _vfsUp = true;
        return true;
    }

    /// <summary>
    /// The PF driver gives each VF's secondary controller its queue and interrupt resources and brings it
    /// online. Needed after VF Enable and after every reset of the primary controller, which takes its
    /// secondaries offline (NVMe 1.4 §8.5.2).
    /// </summary>
    bool ProvisionVfs()
    {
        var pf = _lanes[0].Driver!;
        for (int n = 1; n <= Vfs; n++)
        {
            ushort cntlid = RaidControllerDevice.VfControllerId(n);
            Provision(pf, cntlid, 7, 0, 0); // offline first: resources can only change then
            if (!Provision(pf, cntlid, 8, 0, 3) || !Provision(pf, cntlid, 8, 1, 3) || !Provision(pf, cntlid, 9, 0, 0))
            {
                Violation(FuzzInvariant.Recovery, $"provisioning VF {n}'s secondary controller failed");
                return false;
            }
            _lanes[n].Dirty = true;
            _lanes[n].Driver = null;
        }
        return true;
    }

    bool EnsureUpPf()
    {
        var l = _lanes[0];
        _result.Recoveries++;
        try
        {
            return BringUp(l);
        }
        catch (NvmeDriverException first)
        {
            InitiateFlr(l);
            try
            {
                return BringUp(l);
            }
            catch (NvmeDriverException again)
            {
                Violation(FuzzInvariant.Recovery, $"{l.Name}: driver bring-up failed ({first.Message}) and again after an FLR ({again.Message})");
                return false;
            }
        }
    }

    static bool Provision(NvmeDriver pf, ushort cntlid, int action, int resource, int count)
    {
        var c = pf.ExecuteAdmin(new NvmeSubmission
        {
            Opcode = NvmeAdminOpcode.VirtualizationManagement,
            Cdw10 = (uint)action | (uint)resource << 8 | (uint)cntlid << 16,
            Cdw11 = (uint)count,
        });
        return c.Status.IsSuccess;
    }

    /// <summary>Every VF shares the volume the model attaches to a VF (or the PF's), each in its own LBA slots.</summary>
    void AttachVolumes()
    {
        var device = _pf.Device;
        var volume = device.Engine.Volumes.FirstOrDefault(v => device.AttachmentsOf(v).Any(n => n > 0))
            ?? device.Engine.Volumes.FirstOrDefault();
        if (volume is null) return;
        for (int n = 1; n <= Vfs; n++)
            if (!device.AttachmentsOf(volume).Contains(n)) device.Attach(volume.Name, n);
        foreach (var l in _lanes) if (!l.IsPf) l.Dirty = true;
    }

    void ChooseNamespace(FuzzLane l)
    {
        if (l.Driver is not { } d || d.Namespaces.Count == 0) return;
        var ns = d.Namespaces.Values.OrderBy(n => n.Nsid).First();
        l.Nsid = ns.Nsid;
        l.BlockSize = ns.BlockSize;
        l.LbaBase = (ulong)l.Number * 4 * FuzzLane.Slots;
        ulong blocks = ns.Size;
        l.FuzzLbaBase = Math.Min(1UL << 20, blocks / 2);
        if (l.FuzzLbaBase <= (ulong)(Vfs + 1) * 4 * FuzzLane.Slots + 64) l.Nsid = 0; // too small to share safely
    }
}
