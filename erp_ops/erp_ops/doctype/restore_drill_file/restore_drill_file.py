# Copyright (c) 2026, erp_ops developers and contributors
# For license information, please see license.txt

from frappe.model.document import Document


class RestoreDrillFile(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		archive_files: DF.Int
		encrypted: DF.Check
		file_name: DF.Data | None
		kind: DF.Literal["database", "public_files", "private_files", "site_config"]
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		sha256: DF.Data | None
		size: DF.Float
	# end: auto-generated types

	pass
