"""Healthcare forms: `healthcare.patient-referral`, `-medical-history`, `-consent`, `-intake`, `-insurance-card` and
`-identification`.

Every value is optional: a field the form does not show, or leaves blank, is null. Never guess one."""

import datetime
from typing import Literal

from pydantic import BaseModel, Field

from .common import Address

Sex = Literal["male", "female", "other"]


# --- shared pieces --------------------------------------------------------------------------------------------


class Patient(BaseModel):
    """The patient a form is about."""

    name: str | None = Field(None, description="the patient's full name as written, e.g. 'Jane A. Doe'")
    date_of_birth: datetime.date | None = Field(None, description="the patient's date of birth")
    sex: Sex | None = Field(None, description="the patient's sex as marked on the form: 'M' is male, 'F' is female")
    address: Address | None = Field(None, description="the patient's home address")
    phone: str | None = Field(None, description="the patient's main phone number, as written")
    email: str | None = Field(None, description="the patient's email address")
    mrn: str | None = Field(None, description="the patient's medical record number (MRN) or chart number")


class Provider(BaseModel):
    """A clinician or healthcare organisation."""

    name: str | None = Field(None, description="the provider's name, e.g. 'Dr. John Smith' or 'City Cardiology'")
    credentials: str | None = Field(None, description="the provider's degree or credentials, e.g. 'MD', 'DO', 'NP'")
    specialty: str | None = Field(None, description="the provider's specialty, e.g. 'cardiology'")
    organization: str | None = Field(None, description="the practice, clinic or hospital the provider works for")
    npi: str | None = Field(None, description="the provider's 10-digit National Provider Identifier (NPI)")
    phone: str | None = Field(None, description="the provider's phone number, as written")
    fax: str | None = Field(None, description="the provider's fax number, as written")
    address: Address | None = Field(None, description="the provider's office address")


class Diagnosis(BaseModel):
    """A diagnosis, with its ICD-10 code when one is written."""

    code: str | None = Field(None, description="the ICD-10-CM code as written, e.g. 'E11.9' or 'M54.5'")
    description: str | None = Field(None, description="the diagnosis in words, e.g. 'type 2 diabetes mellitus'")


class Medication(BaseModel):
    """A medication the patient takes or is prescribed."""

    name: str | None = Field(None, description="the drug's name, generic or brand, e.g. 'metformin'")
    dose: str | None = Field(None, description="the strength or amount per dose with its unit, e.g. '500 mg'")
    route: str | None = Field(None, description="how it is taken, e.g. 'oral', 'inhaled', 'subcutaneous'")
    frequency: str | None = Field(None, description="how often it is taken, as written, e.g. 'twice daily', 'PRN'")
    reason: str | None = Field(None, description="what the medication is taken for, when written")


class Allergy(BaseModel):
    """An allergy or intolerance."""

    allergen: str | None = Field(None, description="what the patient is allergic to, e.g. 'penicillin', 'peanuts'")
    reaction: str | None = Field(None, description="the reaction it causes, e.g. 'hives', 'anaphylaxis'")
    severity: Literal["mild", "moderate", "severe"] | None = Field(None, description="how severe the reaction is")


class Insurance(BaseModel):
    """The patient's health insurance, as written on a form."""

    payer: str | None = Field(None, description="the insurance company or programme, e.g. 'Aetna', 'Medicare'")
    plan_name: str | None = Field(None, description="the name of the plan, e.g. 'Choice POS II'")
    member_id: str | None = Field(None, description="the member, subscriber or policy ID")
    group_number: str | None = Field(None, description="the group number")
    policy_holder_name: str | None = Field(None, description="the name of the policy holder (subscriber)")
    policy_holder_relationship: str | None = Field(
        None, description="the patient's relationship to the policy holder, e.g. 'self', 'spouse', 'child'"
    )


class Signature(BaseModel):
    """A signature block on a form."""

    name: str | None = Field(None, description="the printed name of the person who signed")
    signed: bool | None = Field(None, description="true when a signature is present, false when the line is blank")
    date_signed: datetime.date | None = Field(None, description="the date written next to the signature")
    relationship_to_patient: str | None = Field(
        None, description="who the signer is to the patient when not the patient, e.g. 'parent', 'guardian'"
    )


class EmergencyContact(BaseModel):
    """A person to call in an emergency."""

    name: str | None = Field(None, description="the contact's full name")
    relationship: str | None = Field(None, description="the contact's relationship to the patient, e.g. 'spouse'")
    phone: str | None = Field(None, description="the contact's phone number, as written")


# --- healthcare.patient-referral ------------------------------------------------------------------------------


class PatientReferral(BaseModel):
    """A referral of a patient from one provider to another: who is referred, by whom, to whom, and why."""

    referral_date: datetime.date | None = Field(None, description="the date the referral was written")
    patient: Patient | None = Field(None, description="the patient being referred")
    referring_provider: Provider | None = Field(None, description="the provider who sends the referral")
    receiving_provider: Provider | None = Field(None, description="the provider or facility the patient is sent to")
    reason_for_referral: str | None = Field(None, description="why the patient is referred, as written")
    requested_service: str | None = Field(
        None, description="what is asked of the receiving provider, e.g. 'evaluate and treat', 'MRI lumbar spine'"
    )
    diagnoses: list[Diagnosis] | None = Field(None, description="the diagnoses listed, with their ICD-10 codes")
    urgency: Literal["routine", "urgent", "emergent"] | None = Field(
        None, description="how soon the patient must be seen; 'stat' or 'emergency' is 'emergent'"
    )
    clinical_summary: str | None = Field(None, description="the relevant history, findings and tests, as written")
    medications: list[Medication] | None = Field(None, description="the patient's current medications")
    allergies: list[Allergy] | None = Field(None, description="the patient's allergies")
    insurance: Insurance | None = Field(None, description="the patient's insurance")
    authorization_number: str | None = Field(None, description="the insurer's prior-authorization number")
    number_of_visits: int | None = Field(None, ge=0, description="the number of visits authorised or requested")
    referring_provider_signature: Signature | None = Field(None, description="the referring provider's signature")


# --- healthcare.patient-medical-history -----------------------------------------------------------------------


class Condition(BaseModel):
    """A medical condition the patient has or had."""

    name: str | None = Field(None, description="the condition, e.g. 'hypertension', 'asthma'")
    diagnosed_year: int | None = Field(None, description="the year it was diagnosed, when written")
    status: Literal["active", "resolved"] | None = Field(None, description="whether the condition is current")
    notes: str | None = Field(None, description="anything else written about the condition")


class Surgery(BaseModel):
    """A surgery or procedure the patient had."""

    procedure: str | None = Field(None, description="the surgery or procedure, e.g. 'appendectomy'")
    surgery_date: datetime.date | None = Field(None, description="the date of the surgery, when a full date is written")
    year: int | None = Field(None, description="the year of the surgery (also when only the year is written)")
    notes: str | None = Field(None, description="anything else written, e.g. the hospital or complications")


class FamilyHistoryItem(BaseModel):
    """A condition in the patient's family."""

    relation: str | None = Field(None, description="the relative, e.g. 'mother', 'paternal grandfather'")
    condition: str | None = Field(None, description="the relative's condition, e.g. 'breast cancer'")
    age_at_diagnosis: int | None = Field(None, ge=0, description="the relative's age when diagnosed, when written")


class Immunization(BaseModel):
    """A vaccine the patient received."""

    vaccine: str | None = Field(None, description="the vaccine, e.g. 'tetanus (Tdap)', 'influenza'")
    date_given: datetime.date | None = Field(None, description="the date it was given, when a full date is written")


class SocialHistory(BaseModel):
    """The patient's habits and circumstances."""

    tobacco_use: Literal["never", "former", "current"] | None = Field(None, description="the patient's tobacco use")
    tobacco_details: str | None = Field(None, description="what and how much, e.g. '1 pack a day for 10 years'")
    alcohol_use: str | None = Field(None, description="the patient's alcohol use as written, e.g. '2 drinks a week'")
    drug_use: str | None = Field(None, description="the patient's recreational drug use, as written")
    occupation: str | None = Field(None, description="the patient's occupation")
    exercise: str | None = Field(None, description="how much the patient exercises, as written")


class PatientMedicalHistory(BaseModel):
    """A patient medical history form: past conditions, surgeries, medications, allergies, family and social
    history."""

    form_date: datetime.date | None = Field(None, description="the date the form was filled in")
    patient: Patient | None = Field(None, description="the patient the history is about")
    primary_care_provider: Provider | None = Field(None, description="the patient's primary care provider")
    past_conditions: list[Condition] | None = Field(None, description="the patient's past and current conditions")
    surgeries: list[Surgery] | None = Field(None, description="the patient's past surgeries and procedures")
    medications: list[Medication] | None = Field(None, description="the medications the patient takes now")
    allergies: list[Allergy] | None = Field(None, description="the patient's allergies")
    family_history: list[FamilyHistoryItem] | None = Field(None, description="conditions in the patient's family")
    immunizations: list[Immunization] | None = Field(None, description="the patient's vaccinations")
    social_history: SocialHistory | None = Field(None, description="the patient's habits and circumstances")
    height: str | None = Field(None, description="the patient's height with its unit, as written, e.g. \"5' 7\"\"")
    weight: str | None = Field(None, description="the patient's weight with its unit, as written, e.g. '150 lb'")
    patient_signature: Signature | None = Field(None, description="the patient's signature on the form")


# --- healthcare.patient-consent -------------------------------------------------------------------------------


class PatientConsent(BaseModel):
    """A patient consent form: what the patient consents to, its risks, and who signed and witnessed it."""

    consent_type: str | None = Field(
        None, description="the kind of consent, e.g. 'surgical procedure', 'anesthesia', 'general treatment', "
        "'telehealth', 'blood transfusion', 'photography'"
    )
    patient: Patient | None = Field(None, description="the patient giving consent")
    procedure: str | None = Field(None, description="the procedure or treatment consented to, as written")
    procedure_description: str | None = Field(None, description="the form's description of the procedure")
    provider: Provider | None = Field(None, description="the practitioner who will perform the procedure")
    facility: str | None = Field(None, description="the hospital or clinic where it will be done")
    risks: list[str] | None = Field(None, description="the risks and complications listed on the form")
    benefits: list[str] | None = Field(None, description="the expected benefits listed on the form")
    alternatives: list[str] | None = Field(None, description="the alternative treatments listed on the form")
    consent_given: bool | None = Field(
        None, description="true when the patient consents, false when the form marks a refusal"
    )
    consent_date: datetime.date | None = Field(None, description="the date consent was given")
    expiration_date: datetime.date | None = Field(None, description="the date the consent ends, when written")
    patient_signature: Signature | None = Field(
        None, description="the signature of the patient or their legal representative"
    )
    witness_signature: Signature | None = Field(None, description="the witness's signature")
    provider_signature: Signature | None = Field(None, description="the signature of the provider who explained it")
    interpreter_name: str | None = Field(None, description="the interpreter's name, when one was used")


# --- healthcare.patient-intake --------------------------------------------------------------------------------


class PatientIntake(BaseModel):
    """A new-patient or visit intake form: who the patient is, why they came, their contacts and insurance."""

    visit_date: datetime.date | None = Field(None, description="the date of the visit or of filling in the form")
    patient: Patient | None = Field(None, description="the patient")
    marital_status: str | None = Field(None, description="the patient's marital status, e.g. 'single', 'married'")
    preferred_language: str | None = Field(None, description="the language the patient prefers, e.g. 'Spanish'")
    reason_for_visit: str | None = Field(None, description="why the patient came, in their words (chief complaint)")
    symptoms: list[str] | None = Field(None, description="the symptoms the patient lists or ticks")
    symptom_duration: str | None = Field(None, description="how long the symptoms have lasted, e.g. '3 days'")
    pain_level: int | None = Field(None, ge=0, le=10, description="the pain level marked, from 0 (none) to 10")
    medications: list[Medication] | None = Field(None, description="the medications the patient takes")
    allergies: list[Allergy] | None = Field(None, description="the patient's allergies")
    primary_care_provider: Provider | None = Field(None, description="the patient's primary care provider")
    referred_by: str | None = Field(None, description="who referred the patient, when written")
    preferred_pharmacy: str | None = Field(None, description="the patient's pharmacy, with its location if written")
    emergency_contact: EmergencyContact | None = Field(None, description="the patient's emergency contact")
    insurance: Insurance | None = Field(None, description="the patient's primary insurance")
    secondary_insurance: Insurance | None = Field(None, description="the patient's secondary insurance")
    patient_signature: Signature | None = Field(None, description="the patient's signature on the form")


# --- healthcare.patient-insurance-card ------------------------------------------------------------------------


class Copays(BaseModel):
    """The copays printed on an insurance card, as written (e.g. '$25')."""

    primary_care: str | None = Field(None, description="copay for a primary care (PCP) office visit")
    specialist: str | None = Field(None, description="copay for a specialist visit")
    urgent_care: str | None = Field(None, description="copay for urgent care")
    emergency_room: str | None = Field(None, description="copay for the emergency room (ER)")
    generic_drugs: str | None = Field(None, description="copay for generic prescriptions")
    brand_drugs: str | None = Field(None, description="copay for brand-name prescriptions")


class PatientInsuranceCard(BaseModel):
    """A health insurance card, front and back: the payer, the plan, the member, pharmacy (Rx) numbers and
    copays."""

    payer: str | None = Field(None, description="the insurance company, e.g. 'Blue Cross Blue Shield of Texas'")
    plan_name: str | None = Field(None, description="the plan's name as printed")
    plan_type: str | None = Field(None, description="the plan type, e.g. 'PPO', 'HMO', 'EPO', 'POS', 'Medicare'")
    network: str | None = Field(None, description="the provider network named on the card")
    member_name: str | None = Field(None, description="the member's name as printed")
    member_id: str | None = Field(None, description="the member or subscriber ID, with any prefix, as printed")
    group_number: str | None = Field(None, description="the group number")
    subscriber_name: str | None = Field(None, description="the subscriber's name, when it differs from the member")
    dependents: list[str] | None = Field(None, description="the names of dependents listed on the card")
    effective_date: datetime.date | None = Field(None, description="the date coverage starts")
    payer_id: str | None = Field(None, description="the payer ID for electronic claims")
    rx_bin: str | None = Field(None, description="the pharmacy benefit RxBIN number")
    rx_pcn: str | None = Field(None, description="the pharmacy benefit RxPCN (processor control number)")
    rx_group: str | None = Field(None, description="the pharmacy benefit RxGRP (group) number")
    copays: Copays | None = Field(None, description="the copays printed on the card")
    deductible: str | None = Field(None, description="the deductible as printed, e.g. '$1,500 individual'")
    customer_service_phone: str | None = Field(None, description="the member or customer services phone number")
    provider_phone: str | None = Field(None, description="the phone number for providers")
    pharmacy_phone: str | None = Field(None, description="the pharmacy help desk phone number")
    claims_address: Address | None = Field(None, description="the address claims are sent to")


# --- healthcare.patient-identification ------------------------------------------------------------------------

IdDocumentType = Literal[
    "drivers_license", "state_id", "passport", "military_id", "permanent_resident_card", "national_id",
    "patient_id_card", "other",
]


class PatientIdentification(BaseModel):
    """A patient's identity document (driver's license, state ID, passport, ...), as presented at registration."""

    document_type: IdDocumentType | None = Field(None, description="the kind of identity document")
    document_number: str | None = Field(None, description="the document's number, e.g. the license number")
    issuing_state: str | None = Field(None, description="the state or province that issued it, e.g. 'CA'")
    issuing_country: str | None = Field(None, description="the country that issued it, e.g. 'USA'")
    full_name: str | None = Field(None, description="the holder's full name as printed")
    first_name: str | None = Field(None, description="the holder's first (given) name")
    last_name: str | None = Field(None, description="the holder's last (family) name")
    date_of_birth: datetime.date | None = Field(None, description="the holder's date of birth")
    sex: Sex | None = Field(None, description="the holder's sex as printed: 'M' is male, 'F' is female, 'X' other")
    address: Address | None = Field(None, description="the holder's address as printed")
    issue_date: datetime.date | None = Field(None, description="the date the document was issued")
    expiration_date: datetime.date | None = Field(None, description="the date the document expires")
    photo_present: bool | None = Field(None, description="true when the document carries a photo of the holder")
    signature_present: bool | None = Field(None, description="true when the holder's signature is on the document")
