using System.Buffers.Binary;

namespace PcieVirt.Devices.Nvme;

// Virtualization Enhancements (NVMe Base 1.4 §8.5): a primary controller (the PF) owns Virtual Queue (VQ)
// and Virtual Interrupt (VI) resources, assigns flexible ones to its secondary controllers (the VFs) and
// sets them online or offline with the Virtualization Management command.
public sealed partial class NvmeController
{
    readonly NvmeSecondaryController[] _secondaries;
    int _primaryQueuesFlexible, _primaryInterruptsFlexible;
    int _nextPrimaryQueuesFlexible, _nextPrimaryInterruptsFlexible;

    const int ActionPrimaryFlexibleAllocation = 0x1, ActionSecondaryOffline = 0x7, ActionSecondaryAssign = 0x8, ActionSecondaryOnline = 0x9;
    const int ResourceQueue = 0, ResourceInterrupt = 1;

    /// <summary>The secondary controllers of a primary controller (empty otherwise).</summary>
    public IReadOnlyList<NvmeSecondaryController> SecondaryControllers => _secondaries;

    /// <summary>Flexible queue / interrupt resources in effect for this primary (VQRFAP / VIRFAP).</summary>
    public int PrimaryFlexibleQueues => _primaryQueuesFlexible;
    public int PrimaryFlexibleInterrupts => _primaryInterruptsFlexible;

    int AssignedToSecondaries(int resource)
    {
        int sum = 0;
        foreach (var s in _secondaries) sum += resource == ResourceQueue ? s.QueueResources : s.InterruptResources;
        return sum;
    }

    void VirtualizationManagement(in NvmeCommand cmd)
    {
        var v = _o.Virtualization!;
        int action = (int)(cmd.Cdw10 & 0xF), resource = (int)(cmd.Cdw10 >> 8) & 7;
        ushort target = (ushort)(cmd.Cdw10 >> 16);
        int count = (ushort)cmd.Cdw11;
        if (resource is not (ResourceQueue or ResourceInterrupt) && action is ActionPrimaryFlexibleAllocation or ActionSecondaryAssign)
        { Fail(NvmeStatus.InvalidFieldInCommand, $"resource type {resource} is reserved", 41); return; }
        int total = resource == ResourceQueue ? v.FlexibleQueues : v.FlexibleInterrupts;
        switch (action)
        {
            case ActionPrimaryFlexibleAllocation:
            {
                if (target != ControllerId) { Fail(NvmeStatus.InvalidControllerIdentifier, $"CNTLID {target} is not this primary controller", 42); return; }
                if (count > total) { Fail(NvmeStatus.InvalidNumberOfControllerResources, $"{count} exceeds the {total} flexible resources", 44); return; }
                if (count > total - AssignedToSecondaries(resource))
                { Fail(NvmeStatus.InvalidResourceIdentifier, $"{count} exceeds the flexible resources not assigned to secondaries", 44); return; }
                // Takes effect at the primary's next Controller Level Reset.
                if (resource == ResourceQueue) _nextPrimaryQueuesFlexible = count; else _nextPrimaryInterruptsFlexible = count;
                _result.Dword0 = (uint)count;
                Log.Virtualization(_log, _name, $"primary flexible {(resource == ResourceQueue ? "VQ" : "VI")} = {count} after the next reset");
                return;
            }
            case ActionSecondaryAssign:
            {
                if (FindSecondaryEntry(target) is not { } s) return;
                if (s.IsOnline) { Fail(NvmeStatus.InvalidSecondaryControllerState, $"secondary {target} must be offline to be assigned resources"); return; }
                int max = resource == ResourceQueue ? v.MaxQueuesPerSecondary : v.MaxInterruptsPerSecondary;
                if (count > max || count > total)
                { Fail(NvmeStatus.InvalidNumberOfControllerResources, $"{count} exceeds the per-secondary maximum {max} or the total {total}", 44); return; }
                int current = resource == ResourceQueue ? s.QueueResources : s.InterruptResources;
                int primary = resource == ResourceQueue ? Math.Max(_primaryQueuesFlexible, _nextPrimaryQueuesFlexible)
                    : Math.Max(_primaryInterruptsFlexible, _nextPrimaryInterruptsFlexible);
                int free = total - primary - AssignedToSecondaries(resource);
                if (count - current > free)
                { Fail(NvmeStatus.InvalidResourceIdentifier, $"{count - current} more resources needed, {free} free", 44); return; }
                if (resource == ResourceQueue) s.QueueResources = (ushort)count; else s.InterruptResources = (ushort)count;
                _result.Dword0 = (uint)count;
                Log.Virtualization(_log, _name, $"secondary {target}: {(resource == ResourceQueue ? "VQ" : "VI")} = {count}");
                return;
            }
            case ActionSecondaryOnline:
            {
                if (FindSecondaryEntry(target) is not { } s) return;
                // A usable secondary needs an admin and an I/O queue and one interrupt.
                if (s.QueueResources < 2 || s.InterruptResources < 1)
                { Fail(NvmeStatus.InvalidSecondaryControllerState, $"secondary {target} has {s.QueueResources} VQ and {s.InterruptResources} VI; online needs at least 2 and 1"); return; }
                if (!s.IsOnline)
                {
                    s.IsOnline = true;
                    Subsystem.FindController(target)?.OnSecondaryStateChanged();
                    Log.Virtualization(_log, _name, $"secondary {target} online");
                }
                return;
            }
            case ActionSecondaryOffline:
            {
                if (FindSecondaryEntry(target) is not { } s) return;
                SetOffline(s);
                return;
            }
            default:
                Fail(NvmeStatus.InvalidFieldInCommand, $"action {action} is reserved", 40);
                return;
        }
    }

    NvmeSecondaryController? FindSecondaryEntry(ushort id)
    {
        foreach (var s in _secondaries)
            if (s.ControllerId == id) return s;
        Fail(NvmeStatus.InvalidControllerIdentifier, $"CNTLID {id} is not a secondary controller of this primary", 42);
        return null;
    }

    void SetOffline(NvmeSecondaryController s)
    {
        // Offline releases the secondary's flexible resources back to the pool.
        bool wasOnline = s.IsOnline;
        s.IsOnline = false;
        s.QueueResources = 0;
        s.InterruptResources = 0;
        if (wasOnline)
        {
            Subsystem.FindController(s.ControllerId)?.OnSecondaryStateChanged();
            Log.Virtualization(_log, _name, $"secondary {s.ControllerId} offline");
        }
    }

    void TakeSecondariesOffline()
    {
        // A Controller Level Reset of the primary takes its secondaries offline (§8.5).
        foreach (var s in _secondaries) SetOffline(s);
    }

    /// <summary>This secondary controller's primary changed its state: it restarts without queues (and fails if still enabled while offline).</summary>
    internal void OnSecondaryStateChanged()
    {
        bool enabled = NvmeRegisters.CcFields.En.Get(_cc) != 0;
        ResetControllerState();
        ResetRegisters(full: false);
        if (enabled) SetFatal("the primary controller changed this secondary controller's state while it was enabled");
    }

    void FillPrimaryCapabilities(Span<byte> d)
    {
        var v = _o.Virtualization!;
        BinaryPrimitives.WriteUInt16LittleEndian(d, ControllerId); // CNTLID
        BinaryPrimitives.WriteUInt16LittleEndian(d[2..], 0); // PORTID
        d[4] = 0b11; // CRT: VQ and VI resources supported
        BinaryPrimitives.WriteUInt32LittleEndian(d[32..], (uint)v.FlexibleQueues); // VQFRT
        BinaryPrimitives.WriteUInt32LittleEndian(d[36..], (uint)AssignedToSecondaries(ResourceQueue)); // VQRFA
        BinaryPrimitives.WriteUInt16LittleEndian(d[40..], (ushort)_primaryQueuesFlexible); // VQRFAP
        BinaryPrimitives.WriteUInt16LittleEndian(d[42..], (ushort)v.PrivateQueues); // VQPRT
        BinaryPrimitives.WriteUInt16LittleEndian(d[44..], (ushort)v.MaxQueuesPerSecondary); // VQFRSM
        BinaryPrimitives.WriteUInt16LittleEndian(d[46..], (ushort)v.QueueGranularity); // VQGRAN
        BinaryPrimitives.WriteUInt32LittleEndian(d[64..], (uint)v.FlexibleInterrupts); // VIFRT
        BinaryPrimitives.WriteUInt32LittleEndian(d[68..], (uint)AssignedToSecondaries(ResourceInterrupt)); // VIRFA
        BinaryPrimitives.WriteUInt16LittleEndian(d[72..], (ushort)_primaryInterruptsFlexible); // VIRFAP
        BinaryPrimitives.WriteUInt16LittleEndian(d[74..], (ushort)v.PrivateInterrupts); // VIPRT
        BinaryPrimitives.WriteUInt16LittleEndian(d[76..], (ushort)v.MaxInterruptsPerSecondary); // VIFRSM
        BinaryPrimitives.WriteUInt16LittleEndian(d[78..], (ushort)v.InterruptGranularity); // VIGRAN
    }

    void FillSecondaryList(Span<byte> d, ushort from)
    {
        // Byte 0: number of entries (up to 127); entries of 32 bytes from byte 32, by ascending SCID.
        int n = 0;
        foreach (var s in _secondaries.OrderBy(x => x.ControllerId))
        {
            if (s.ControllerId < from) continue;
            if (n == 127) break;
            var e = d.Slice(32 + 32 * n++, 32);
            BinaryPrimitives.WriteUInt16LittleEndian(e, s.ControllerId); // SCID
            BinaryPrimitives.WriteUInt16LittleEndian(e[2..], s.PrimaryControllerId); // PCID
            e[4] = s.IsOnline ? (byte)1 : (byte)0; // SCS
            BinaryPrimitives.WriteUInt16LittleEndian(e[8..], s.VirtualFunctionNumber); // VFN
            BinaryPrimitives.WriteUInt16LittleEndian(e[10..], s.QueueResources); // NVQ
            BinaryPrimitives.WriteUInt16LittleEndian(e[12..], s.InterruptResources); // NVI
        }
        d[0] = (byte)n;
    }
}
