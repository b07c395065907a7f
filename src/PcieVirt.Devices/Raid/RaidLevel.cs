namespace PcieVirt.Devices.Raid;

/// <summary>RAID level of a volume built on member drives.</summary>
public enum RaidLevel
{
    /// <summary>Striping without redundancy (one drive: a pass-through volume).</summary>
    Raid0 = 0,

    /// <summary>N-way mirror.</summary>
    Raid1 = 1,

    /// <summary>Striping with rotating XOR parity, Linux md left-symmetric layout.</summary>
    Raid5 = 5,

    /// <summary>Striping with rotating P (XOR) and Q (Reed–Solomon over GF(2^8)), md left-symmetric layout.</summary>
    Raid6 = 6,

    /// <summary>Striped mirrors: md raid10 "near" layout with two copies.</summary>
    Raid10 = 10,
}

/// <summary>State of one member position (slot) of a RAID volume.</summary>
public enum MemberState
{
    /// <summary>The drive holds valid data for every row.</summary>
    InSync,

    /// <summary>The drive failed or was removed; its contents come from redundancy.</summary>
    Missing,

    /// <summary>A replacement drive, valid for rows below <see cref="RaidMember.RebuiltRows"/>.</summary>
    Rebuilding,
}

/// <summary>A member slot as reported by <see cref="RaidVolume.Members"/>.</summary>
/// <param name="Slot">Position in the layout (0-based; the layout formulas use it).</param>
/// <param name="DriveName">The drive in the slot (for a missing slot: the drive that failed).</param>
/// <param name="RebuiltRows">For a rebuilding slot, rows already rebuilt (rows are stripes of the layout).</param>
public readonly record struct RaidMember(int Slot, string DriveName, MemberState State, long RebuiltRows);

/// <summary>Where one copy of a volume block lives.</summary>
public readonly record struct RaidLocation(int Slot, long DriveLba);

/// <summary>Result of <see cref="RaidVolume.RebuildStep"/>.</summary>
/// <param name="RowsRebuilt">Rows processed by this step.</param>
/// <param name="RowsRemaining">Rows still to rebuild on the slowest rebuilding slot (0: rebuild complete).</param>
/// <param name="ServiceTimeNs">Modelled time of the member I/O this step performed.</param>
public readonly record struct RebuildProgress(long RowsRebuilt, long RowsRemaining, long ServiceTimeNs, VolumeStatus Status)
{
    /// <summary>True when nothing is left to rebuild.</summary>
    public bool IsComplete => RowsRemaining == 0;
}
