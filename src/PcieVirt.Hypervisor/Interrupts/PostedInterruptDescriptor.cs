namespace PcieVirt.Hypervisor.Interrupts;

/// <summary>
/// A VT-d posted-interrupt descriptor (VT-d rev. 5.10 §5.2.2 and format §9.11; operation §5.2.3
/// "Interrupt-Posting Hardware Operation"; the CPU side is Intel SDM Vol. 3C "Posted-Interrupt Processing"), one per
/// vCPU: the 256-bit Posted Interrupt Requests (PIR), Outstanding Notification (ON), Suppress Notification
/// (SN), and the notification vector (NV) and destination (NDST) of the physical interrupt that tells the CPU
/// to look at the descriptor. Allocation-free.
/// </summary>
public sealed class PostedInterruptDescriptor
{
    readonly ulong[] _pir = new ulong[4];

    /// <summary>Outstanding Notification: a notification was sent and the CPU has not yet processed the PIR.</summary>
    public bool OutstandingNotification { get; private set; }

    /// <summary>Suppress Notification: set by the hypervisor while the vCPU is not running, so posts only accumulate.</summary>
    public bool SuppressNotification { get; set; }

    /// <summary>Notification Vector (NV): the host vector of the notification event.</summary>
    public byte NotificationVector { get; set; }

    /// <summary>Notification Destination (NDST): the APIC ID of the physical CPU the vCPU runs on.</summary>
    public uint NotificationDestination { get; set; }

    /// <summary>Posts made (including ones to a vector already pending).</summary>
    public long Posts { get; private set; }

    /// <summary>Notification events sent.</summary>
    public long Notifications { get; private set; }

    /// <summary>Raised when a post must send a notification event (ON was clear and SN clear).</summary>
    public event Action<PostedInterruptDescriptor>? Notification;

    /// <summary>True when PIR bit <paramref name="vector"/> is set.</summary>
    public bool IsPending(byte vector) => (_pir[vector >> 6] & (1UL << (vector & 63))) != 0;

    /// <summary>True when any PIR bit is set.</summary>
    public bool HasPending => (_pir[0] | _pir[1] | _pir[2] | _pir[3]) != 0;

    /// <summary>
    /// What the remapping hardware does for a posted interrupt (VT-d §5.2.3): set the PIR bit; then, if
    /// ON and SN are both clear, set ON and send a notification event. Returns true when it sent one.
    /// (Urgent entries, which notify despite SN, are not modelled.)
    /// </summary>
    public bool Post(byte vector)
    {
        _pir[vector >> 6] |= 1UL << (vector & 63);
        Posts++;
        if (OutstandingNotification || SuppressNotification) return false;
        OutstandingNotification = true;
        Notifications++;
        Notification?.Invoke(this);
        return true;
    }

    /// <summary>
    /// What the CPU does on VM entry or on receiving the notification vector in guest mode (SDM "Posted-Interrupt Processing"): clear
    /// ON, move every PIR bit into the virtual APIC's IRR and clear the PIR. Returns how many vectors moved.
    /// </summary>
    public int SyncTo(VirtualApic apic)
    {
        ArgumentNullException.ThrowIfNull(apic);
        OutstandingNotification = false;
        int moved = 0;
        for (int w = 0; w < 4; w++)
        {
            ulong bits = _pir[w];
            if (bits == 0) continue;
            _pir[w] = 0;
            moved += apic.MergeRequests(w, bits);
        }
        return moved;
    }
}
